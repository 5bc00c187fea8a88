import knexFactory from 'knex';
import { CLAIM_SQL } from '/work/main/dist/src/outbox/claim-batch.js';
const knex = knexFactory({client:'mysql2', connection:'mysql://root@127.0.0.1:3306/push_exp'});
for (let i=0;i<8;i++){
const [e] = await knex.raw('EXPLAIN '+CLAIM_SQL, [50]);
const [h] = await knex.raw("SHOW ENGINE INNODB STATUS"); const hl = /History list length (\d+)/.exec(h[0].Status)[1];
console.log(i, e[0].type, e[0].key, e[0].rows, e[0].Extra, 'history', hl);
await new Promise(r=>setTimeout(r,1000));
}
const forced = CLAIM_SQL.replace('FROM order_events', 'FROM order_events FORCE INDEX (order_events_claim)');
const [e] = await knex.raw('EXPLAIN '+forced, [50]); console.log(e);
await knex.destroy();
