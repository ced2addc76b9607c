// shared/peers/smsc.js plus what crates/tern/tests/smpp.rs needs to see and cannot with it: the
// submit_sm TLVs (source_port, dest_port, sar_*), the UDH of message_payload, the status each
// submit_sm was answered with and when (ms); and a throttling mode: THROTTLE=N answers the first
// N submit_sm with ESME_RTHROTTLED (0x58); SILENT=N leaves the next N unanswered (logged with
// status -1), and NACK=N answers the next N with a generic_nack carrying ESME_RSYSERR (logged
// with status -2). A submit_sm that asks for a receipt
// (registered_delivery) gets a deliver_sm receipt in the SMPP 3.4 Appendix B text format.
// Same bind check (mmsc/secret) and log format.
const smpp = require('smpp');
const port = +(process.env.PORT || 2775);
let throttle = +(process.env.THROTTLE || 0);
let silent = +(process.env.SILENT || 0);
let nack = +(process.env.NACK || 0);
const hex = b => (b ? Buffer.from(b).toString('hex') : null);
const server = smpp.createServer({debug: false}, session => {
  session.on('error', e => console.error('session error', e.message));
  const bind = pdu => {
    session.pause();
    const ok = pdu.system_id === 'mmsc' && pdu.password === 'secret';
    session.send(pdu.response({command_status: ok ? smpp.ESME_ROK : smpp.ESME_RBINDFAIL}));
    console.log(JSON.stringify({event: pdu.command, system_id: pdu.system_id, ok}));
    session.resume();
  };
  session.on('bind_transceiver', bind);
  session.on('bind_transmitter', bind);
  let n = 0;
  session.on('submit_sm', pdu => {
    // npm smpp splits a UDH (esm_class 0x40) off short_message and message_payload alike.
    const sm = pdu.short_message, mp = pdu.message_payload;
    let status = smpp.ESME_ROK;
    if (throttle > 0) { throttle--; status = smpp.ESME_RTHROTTLED; }
    else if (silent > 0) { silent--; status = -1; }
    else if (nack > 0) { nack--; status = -2; }
    console.log(JSON.stringify({event: 'submit_sm', t: Date.now(), status,
      source: pdu.source_addr, dest: pdu.destination_addr, esm_class: pdu.esm_class,
      data_coding: pdu.data_coding, registered_delivery: pdu.registered_delivery,
      udh: sm.udh ? sm.udh.map(hex) : null, message_hex: hex(sm.message),
      payload_udh: mp && mp.udh ? mp.udh.map(hex) : null, payload_hex: mp ? hex(mp.message || mp) : null,
      source_port: pdu.source_port ?? null, dest_port: pdu.dest_port ?? null,
      sar_msg_ref_num: pdu.sar_msg_ref_num ?? null, sar_total_segments: pdu.sar_total_segments ?? null,
      sar_segment_seqnum: pdu.sar_segment_seqnum ?? null}));
    if (status === -1) return;
    if (status === -2) {
      session.send(new smpp.PDU('generic_nack', {sequence_number: pdu.sequence_number, command_status: smpp.ESME_RSYSERR}));
      return;
    }
    const id = 'MSG' + (++n);
    session.send(pdu.response(status ? {command_status: status} : {message_id: id}));
    if (!status && (pdu.registered_delivery & 1)) {
      const now = new Date().toISOString().replace(/[-T:]/g, '').slice(2, 12);
      session.deliver_sm({source_addr: pdu.destination_addr, destination_addr: pdu.source_addr, esm_class: 4,
        short_message: `id:${id} sub:001 dlvrd:001 submit date:${now} done date:${now} stat:DELIVRD err:000 text:`});
    }
  });
  session.on('enquire_link', pdu => session.send(pdu.response()));
  session.on('unbind', pdu => { session.send(pdu.response()); session.close(); });
});
server.listen(port, '127.0.0.1', () => console.error('SMSC listening on 127.0.0.1:' + port));
