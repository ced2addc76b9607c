// The SMSC peer `shared/peers/smsc.js` (npm smpp 0.5.1), run unchanged, with its submit_sm log
// lines timed: console.log is wrapped so that each line smsc.js writes still goes to stdout as
// before, and the lines that log a submit_sm are also counted, noting when the first and the
// last were written. On stderr: "SMSC listening ..." (from smsc.js), then one JSON line
// {"event":"done",...} once EXPECT submit_sm have been logged, and {"event":"stopped",...} on
// SIGTERM/SIGINT. usage: SMSC_JS=.../smsc.js EXPECT=N PORT=P NODE_PATH=... node smsc-timed.js
'use strict';
const path = require('path');
const script = process.env.SMSC_JS || path.join(__dirname, '../../shared/peers/smsc.js');
const expect = +(process.env.EXPECT || 0);
const write = console.log;
let count = 0;
let first = 0n;
let last = 0n;
function report(event) {
  const seconds = Number(last - first) / 1e9;
  // (count - 1) intervals between the first and the last logged submit_sm.
  const rate = count > 1 && seconds > 0 ? (count - 1) / seconds : 0;
  process.stderr.write(JSON.stringify({event, count, seconds, rate}) + '\n');
}
console.log = function (line, ...rest) {
  write.call(console, line, ...rest);
  if (typeof line === 'string' && line.startsWith('{"event":"submit_sm"')) {
    const now = process.hrtime.bigint();
    if (count === 0) first = now;
    last = now;
    count += 1;
    if (count === expect) report('done');
  }
};
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { report('stopped'); process.exit(0); });
}
require(script);
