// A plain SMPP 3.4 load client on npm smpp 0.5.1: one bind_transceiver (mmsc/secret), then COUNT
// submit_sm with up to WINDOW awaiting their submit_sm_resp at once. Each is what a one-segment
// WAP push looks like: esm_class 0x40 (UDHI), data_coding 4, 140 octets of user data (UDH with
// the 2948/9200 port IE, then 133 octets), source MMSC (TON 5), destination +1555... (TON 1,
// NPI 1). Prints one JSON line: acknowledged, refused, seconds from the first submit_sm sent to
// the last response, and acknowledged/s.
// usage: NODE_PATH=.peers/npm/node_modules PORT=P COUNT=N WINDOW=W node smpp-load-client.js
'use strict';
const smpp = require('smpp');
const port = +(process.env.PORT || 2775);
const total = +(process.env.COUNT || 20000);
const window = +(process.env.WINDOW || 64);

const udh = Buffer.from('0605040b8423f0', 'hex');
const body = Buffer.alloc(140 - udh.length, 0);
for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
const userData = Buffer.concat([udh, body]);

const session = smpp.connect({host: '127.0.0.1', port});
session.on('error', e => { console.error('client error: ' + e.message); process.exit(1); });
session.on('connect', () => {
  session.bind_transceiver({system_id: 'mmsc', password: 'secret', interface_version: 0x34}, pdu => {
    if (pdu.command_status !== 0) {
      console.error('bind refused: ' + pdu.command_status);
      process.exit(1);
    }
    run();
  });
});

function run() {
  let sent = 0, answered = 0, acknowledged = 0, refused = 0;
  const start = process.hrtime.bigint();
  const submit = () => {
    const n = sent++;
    session.submit_sm({
      source_addr_ton: 5, source_addr_npi: 0, source_addr: 'MMSC',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: String(15550200000 + (n % 10000)),
      esm_class: 0x40, protocol_id: 0, registered_delivery: 0, data_coding: 4,
      short_message: userData,
    }, resp => {
      answered++;
      if (resp.command_status === 0) acknowledged++; else refused++;
      if (sent < total) submit();
      else if (answered === total) done();
    });
  };
  const done = () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(JSON.stringify({acknowledged, refused, window, seconds, rate: acknowledged / seconds}));
    session.unbind(() => session.close());
    setTimeout(() => process.exit(0), 500).unref();
  };
  for (let i = 0; i < Math.min(window, total); i++) submit();
}
