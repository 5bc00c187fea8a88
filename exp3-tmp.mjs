import knexFactory from 'knex';
import { CLAIM_SQL } from '/work/main/dist/src/outbox/claim-batch.js';
const knex = knexFactory({client:'mysql2', connection:'mysql://root@127.0.0.1:3306/push_exp'});
const forced = CLAIM_SQL.replace('FROM order_events', 'FROM order_events FORCE INDEX (order_events_claim)');
for (let i=0;i<3;i++){
const [e] = await knex.raw('EXPLAIN '+forced, [50]);
const [a] = await knex.raw('ANALYZE FORMAT=JSON '+forced, [50]);
const t = JSON.parse(a[0].ANALYZE).query_block.nested_loop[0].table;
const [h] = await knex.raw("SHOW ENGINE INNODB STATUS"); const hl = /History list length (\d+)/.exec(h[0].Status)[1];
console.log(i, e[0].type, e[0].key, e[0].rows, e[0].Extra, 'r_rows', t.r_rows, JSON.stringify(t.r_engine_stats), 'history', hl);
await new Promise(r=>setTimeout(r,1500));
}
await knex.destroy();
