/**
 * Jest's order for a fresh clone: the files that take longest first. Jest's own sequencer orders by
 * the durations it cached on an earlier run, else by file size, and CI runs a fresh clone with no
 * cache: a long file that happens to be small started late and ran alone at the end of the run.
 * The list below (test/support/slow-tests.json: the files over 30 s in a whole-suite run on the
 * 2-core machine, slowest first) goes first; every other file follows in jest's own order.
 * Refresh the list when files move (the order only has to be roughly right).
 */
'use strict';
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;
const slow = require('./slow-tests.json');

class SlowFirstSequencer extends Sequencer {
  sort(tests) {
    const rest = super.sort(tests);
    const rank = new Map(slow.map((file, i) => [file, i]));
    const root = path.join(__dirname, '..', '..');
    const rankOf = (test) => rank.get(path.relative(root, test.path).split(path.sep).join('/'));
    const first = rest.filter((t) => rankOf(t) !== undefined).sort((a, b) => rankOf(a) - rankOf(b));
    return [...first, ...rest.filter((t) => rankOf(t) === undefined)];
  }
}

module.exports = SlowFirstSequencer;
