import knexFactory from 'knex';
import { migrateLatest } from '/work/main/dist/src/db/run-migrations.js';
import { createOrderServiceTables } from '/work/main/dist/src/demo/order-service-schema.js';
import { DEFAULT_ORDER_COLUMNS } from '/work/main/dist/src/db/migration-context.js';
import { CLAIM_SQL } from '/work/main/dist/src/outbox/claim-batch.js';
const mode = process.argv[2]; const analyze = process.argv[3] === 'analyze';
const admin = knexFactory({client:'mysql2', connection:'mysql://root@127.0.0.1:3306/'});
await admin.raw('DROP DATABASE IF EXISTS push_exp'); await admin.raw('CREATE DATABASE push_exp'); await admin.destroy();
const knex = knexFactory({client:'mysql2', connection:'mysql://root@127.0.0.1:3306/push_exp'});
await createOrderServiceTables(knex);
await migrateLatest(knex, {ordersTable:'orders', outboxTable:'order_events', orderColumns: DEFAULT_ORDER_COLUMNS});
const n = 5000;
const rows = Array.from({length:n},(_,i)=>({order_id: 1+(i%300), patient_id: 1, from_status:'A', to_status:'B'}));
for (let i=0;i<n;i+=1000) await knex('order_events').insert(rows.slice(i,i+1000));
if (mode==='same') await knex.raw('UPDATE order_events SET handed_off_at = NOW(3) ORDER BY id LIMIT 4900');
else { const [[{m}]] = await knex.raw('select min(id) m from order_events');
  await knex.raw(`UPDATE order_events SET handed_off_at = FROM_UNIXTIME(1700000000 + FLOOR((id-${m})/50)) ORDER BY id LIMIT 4900`); }
if (analyze) await knex.raw('ANALYZE TABLE order_events');
const [e] = await knex.raw('EXPLAIN '+CLAIM_SQL, [50]);
const [a] = await knex.raw('ANALYZE FORMAT=JSON '+CLAIM_SQL, [50]);
const t = JSON.parse(a[0].ANALYZE).query_block.nested_loop[0].table;
const [s] = await knex.raw("SHOW INDEX FROM order_events WHERE Key_name='order_events_claim'");
console.log(mode, analyze, e[0].type, e[0].key, e[0].rows, e[0].Extra, 'r_rows', t.r_rows, s.map(r=>r.Cardinality));
await knex.destroy();
{
const knex = knexFactory({client:'mysql2', connection:'mysql://root@127.0.0.1:3306/push_exp'});
const forced = CLAIM_SQL.replace('FROM order_events', 'FROM order_events FORCE INDEX (order_events_claim)');
const [e] = await knex.raw('EXPLAIN '+forced, [50]);
const [a] = await knex.raw('ANALYZE FORMAT=JSON '+forced, [50]);
const t = JSON.parse(a[0].ANALYZE).query_block.nested_loop[0].table;
const [h] = await knex.raw("SHOW ENGINE INNODB STATUS"); const hl = /History list length (\d+)/.exec(h[0].Status)[1];
console.log('forced', e[0].type, e[0].key, e[0].rows, e[0].Extra, 'r_rows', t.r_rows, JSON.stringify(t.r_engine_stats), 'history', hl);
await knex.destroy();
}
