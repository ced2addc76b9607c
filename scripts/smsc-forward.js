// The SMSC peer `shared/peers/smsc.js` (npm smpp 0.5.1), run unchanged, as the air between the
// relay and `tern ue load`: console.log is wrapped so that each line smsc.js writes still goes
// to stdout, and each submit_sm it logs is also taken as an SMS to a handset. The segments of a
// WAP push (user data headers with the WAP push port and, for a long one, the concatenation
// reference) are put back together as a handset would, and the WSP push they carry is sent as
// one datagram to UE_UDP (host:port), where `tern ue load --retrieve` listens as every
// recipient. usage: SMSC_JS=.../smsc.js PORT=P UE_UDP=127.0.0.1:U NODE_PATH=... node smsc-forward.js
'use strict';
const dgram = require('dgram');
const path = require('path');
const script = process.env.SMSC_JS || path.join(__dirname, '../../shared/peers/smsc.js');
const [host, port] = (process.env.UE_UDP || '127.0.0.1:2948').split(':');
const socket = dgram.createSocket('udp4');
const write = console.log;
// Segments waiting for the rest of their message, by destination and reference.
const waiting = new Map();

function deliver(payload) {
  socket.send(payload, +port, host);
}

function take(sm) {
  const ies = (sm.udh || []).map(hex => Buffer.from(hex, 'hex'));
  const body = Buffer.from(sm.message_hex, 'hex');
  // Concatenation: IEI 00 (8-bit reference) or 08 (16-bit); each IE is [iei, length, data...].
  const concat = ies.find(ie => ie[0] === 0x00 || ie[0] === 0x08);
  if (!concat) return deliver(body);
  const wide = concat[0] === 0x08;
  const ref = wide ? concat.readUInt16BE(2) : concat[2];
  const total = concat[wide ? 4 : 3];
  const seq = concat[wide ? 5 : 4];
  const key = `${sm.dest}/${ref}`;
  const parts = waiting.get(key) || new Array(total);
  parts[seq - 1] = body;
  if (parts.filter(Boolean).length < total) return waiting.set(key, parts);
  waiting.delete(key);
  deliver(Buffer.concat(parts));
}

console.log = function (line, ...rest) {
  write.call(console, line, ...rest);
  if (typeof line === 'string' && line.startsWith('{"event":"submit_sm"')) take(JSON.parse(line));
};
require(script);
