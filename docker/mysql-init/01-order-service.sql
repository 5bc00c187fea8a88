-- Stand-in for the order service's tables (SPEC §2), so the compose installation works on
-- its own. In production these exist already and push only adds its trigger.
USE orders;
CREATE TABLE IF NOT EXISTS orders (
  id            BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,
  patient_id    BIGINT UNSIGNED NOT NULL,
  nurse_id      BIGINT UNSIGNED NULL,
  status        VARCHAR(32) NOT NULL,
  status_reason VARCHAR(32) NULL,
  updated_at    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS nurses (
  id   BIGINT UNSIGNED PRIMARY KEY,
  name VARCHAR(64) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO nurses (id, name) VALUES (7, '王芳'), (8, '李娜'), (9, '张敏');
-- The least privilege push needs (see README "Production"): no SUPER, no REPLICATION.
REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'push_app'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, TRIGGER, LOCK TABLES ON orders.* TO 'push_app'@'%';
