// A small SMSC for the fault tests, on the npm `smpp` package (not our code): it accepts any
// bind, answers every submit_sm with a message id numbered from --first-id (1) in this run —
// so a restart numbers ids from 1 again, as some SMSCs do — and sends each message's
// delivery receipt after --receipt-delay ms, on the session it came from or, if that one is
// gone, on the next session bound. Every submit_sm (logged BEFORE its answer leaves, so a
// SIGKILL never hides an accepted one) and every receipt sent (logged just before it leaves)
// is one JSON line in --log.
//
//   node smsc.js --port 2775 --log submits.jsonl [--receipt-delay 200] [--first-id 1]
//                [--password PW] [--max-binds 0] [--tps 0]
//
// With --password, a bind with another password is refused (ESME_RINVPASWD) and logged.
// --max-binds N: a bind beyond N sessions bound at once is refused (ESME_RBINDFAIL, logged
// "bind_refused"); every bind and close is logged with the count bound after it.
// --tps N: at most N submit_sm accepted per calendar second of this clock; the others are
// answered ESME_RTHROTTLED (logged "throttled", never "submit").
// MO on demand: a line {"from": "+336…", "to": "36034", "text": "STOP"} on stdin is sent as
// a deliver_sm on a bound session; its acknowledgement is logged ("mo_ack", with the time).
//
// Prints {"event":"listening","port":N} on stdout once it accepts connections.
'use strict';

const fs = require('fs');
const smpp = require('smpp');

const options = {
  port: 2775,
  log: 'smsc.jsonl',
  'receipt-delay': 200,
  'first-id': 1,
  password: '',
  'max-binds': 0,
  tps: 0,
};
for (let i = 2; i < process.argv.length; i += 2) {
  const name = process.argv[i].replace(/^--/, '');
  if (!(name in options)) {
    console.error(`unknown option --${name}`);
    process.exit(2);
  }
  options[name] = typeof options[name] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const log = fs.openSync(options.log, 'a');
const run = `${process.pid}`;
function record(entry) {
  fs.writeSync(log, JSON.stringify({ run, at: Date.now(), ...entry }) + '\n');
}

let nextId = options['first-id'];
const bound = new Set();
const orphans = []; // receipts whose session closed before they were due

function stamp(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}`;
}

function sendReceipt(session, receipt) {
  if (!session.socket.writable) return false;
  // Logged before it is written, like a submit: a SIGKILL between the two must not leave a
  // receipt the ESME got but the log lacks (the log may hold one more, never one less).
  record({ event: 'receipt', id: receipt.id, to: receipt.to });
  const now = stamp(new Date());
  const text = `id:${receipt.id} sub:001 dlvr:001 submit date:${now} done date:${now} ` +
    'stat:DELIVRD err:000 text:';
  const sent = session.deliver_sm({
    source_addr: receipt.to,
    source_addr_ton: 1,
    source_addr_npi: 1,
    destination_addr: receipt.from,
    esm_class: 0x04,
    short_message: text,
    receipted_message_id: receipt.id,
    message_state: 2,
  });
  return sent;
}

function deliver(session, receipt) {
  if (bound.has(session) && sendReceipt(session, receipt)) return;
  const other = [...bound][0];
  if (other === undefined || !sendReceipt(other, receipt)) orphans.push(receipt);
}

let second = 0;
let inSecond = 0;
function withinCap() {
  if (!options.tps) return true;
  const now = Math.floor(Date.now() / 1000);
  if (now !== second) {
    second = now;
    inSecond = 0;
  }
  if (inSecond >= options.tps) return false;
  inSecond += 1;
  return true;
}

const server = smpp.createServer((session) => {
  session.on('error', () => session.destroy());
  session.on('close', () => {
    if (bound.delete(session)) record({ event: 'close', binds: bound.size });
  });
  const bind = (pdu) => {
    if (options.password && pdu.password !== options.password) {
      record({ event: 'bind_refused', command: pdu.command });
      session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
      return;
    }
    if (options['max-binds'] && bound.size >= options['max-binds']) {
      record({ event: 'bind_refused', binds: bound.size });
      session.send(pdu.response({ command_status: 0x0d }));
      session.close();
      return;
    }
    session.send(pdu.response());
    bound.add(session);
    record({ event: 'bind', command: pdu.command, binds: bound.size });
    for (const receipt of orphans.splice(0)) deliver(session, receipt);
  };
  session.on('bind_transceiver', bind);
  session.on('bind_transmitter', bind);
  session.on('bind_receiver', bind);
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('submit_sm', (pdu) => {
    if (!withinCap()) {
      record({ event: 'throttled', to: pdu.destination_addr });
      session.send(pdu.response({ command_status: 0x58 }));
      return;
    }
    const id = String(nextId++);
    const message = pdu.short_message && pdu.short_message.message;
    const receipt = { id, to: pdu.destination_addr, from: pdu.source_addr };
    record({ event: 'submit', id, to: pdu.destination_addr, text: String(message || '') });
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 1) {
      setTimeout(() => deliver(session, receipt), options['receipt-delay']);
    }
  });
});

let input = '';
process.stdin.on('data', (chunk) => {
  input += chunk;
  let end;
  while ((end = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, end);
    input = input.slice(end + 1);
    if (line.trim()) sendMo(JSON.parse(line));
  }
});

function sendMo(mo) {
  const session = [...bound][Math.floor(Math.random() * bound.size)];
  if (session === undefined) {
    record({ event: 'mo_unsent', from: mo.from });
    return;
  }
  record({ event: 'mo', from: mo.from });
  session.deliver_sm(
    {
      source_addr: mo.from.replace(/^\+/, ''),
      source_addr_ton: 1,
      source_addr_npi: 1,
      destination_addr: mo.to,
      short_message: mo.text,
    },
    (resp) => record({ event: 'mo_ack', from: mo.from, status: resp.command_status }),
  );
}

server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port }) + '\n');
});
