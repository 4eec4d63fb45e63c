#!/usr/bin/env node
// Writes the realistic JSON message set of the compression benchmark, one
// message a line: chat and ticker messages of 200-2,000 bytes, from a fixed
// seed (the same file every time).  Usage: node bench/deflate-messages.js OUT [COUNT]
'use strict';
const fs = require('fs');
const [out, count] = [process.argv[2], Number(process.argv[3] || 2000)];
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const words = ('the a price order market buy sell today hello thanks please update new order filled limit stop ' +
  'when where why because meeting tomorrow lunch team project release deploy bug fix review merge ok great ' +
  'sounds good see you later coffee weekend data chart volume trend bitcoin ether euro dollar').split(' ');
const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
const symbols = ['BTC-EUR', 'ETH-EUR', 'SOL-USD', 'AAPL', 'MSFT', 'EUR-USD', 'GBP-USD', 'XAU-USD'];
const lines = [];
while (lines.length < count) {
  const target = 200 + Math.floor(rnd() * 1800);
  let m;
  if (rnd() < 0.5) {
    const msg = { type: 'chat', id: Math.floor(rnd() * 1e9).toString(36), room: 'room-' + Math.floor(rnd() * 50),
      from: { id: Math.floor(rnd() * 1e6), name: pick(users), avatar: 'https://cdn.example.com/a/' + Math.floor(rnd() * 1e6) + '.png' },
      ts: 1796000000000 + Math.floor(rnd() * 1e9), text: '' , reactions: [] };
    while (JSON.stringify(msg).length < target) msg.text += pick(words) + ' ';
    m = JSON.stringify(msg);
  } else {
    const msg = { type: 'ticker', symbol: pick(symbols), ts: 1796000000000 + Math.floor(rnd() * 1e9),
      last: +(100 + rnd() * 50000).toFixed(2), change24h: +((rnd() - 0.5) * 10).toFixed(3), bids: [], asks: [] };
    while (JSON.stringify(msg).length < target) {
      msg.bids.push([+(100 + rnd() * 50000).toFixed(2), +(rnd() * 5).toFixed(4)]);
      msg.asks.push([+(100 + rnd() * 50000).toFixed(2), +(rnd() * 5).toFixed(4)]);
    }
    m = JSON.stringify(msg);
  }
  lines.push(m.slice(0, 2000));
}
fs.writeFileSync(out, lines.join('\n') + '\n');
