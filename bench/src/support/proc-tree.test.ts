/**
 * readTreeCpu over a process tree made here with real processes: a parent that burns nothing, two
 * children that each burn CPU, and a grandchild that burns CPU and exits mid-window (as a restarting
 * media worker would). The tree's CPU must hold all of it; the parent's own figure must not.
 * Assertions are on CPU accounting (each child burns until its own cpuUsage says so), never on speed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { cpuPercent, readProcCpu } from './proc-stat.js';
import { processTree, readTreeCpu } from './proc-tree.js';

const BURN_MS = 300;

/**
 * A child that burns BURN_MS of its own CPU, says 'burnt <its whole CPU so far, ms>', and then stays
 * (or exits, with `exit`).
 */
const burner = (exit: boolean) =>
  `const t = process.cpuUsage(); while ((process.cpuUsage(t).user + process.cpuUsage(t).system) / 1000 < ${BURN_MS}) {}` +
  `const u = process.cpuUsage(); console.log('burnt ' + (u.user + u.system) / 1000); ${exit ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}`;

/**
 * parent → child A (burns, stays), child B (starts grandchild C, burns, stays), C (burns, exits; B
 * waits for it). The parent prints each pid, then 'done' once all three burnt.
 */
const parentScript = `
const { spawn } = require('node:child_process');
const { createInterface } = require('node:readline');
const burner = ${JSON.stringify(burner(false))};
const exiting = ${JSON.stringify(burner(true))};
const bScript = "const { spawn } = require('node:child_process');" +
  "const c = spawn(process.execPath, ['-e', " + JSON.stringify(exiting) + "], { stdio: ['ignore', 'inherit', 'inherit'] });" +
  "console.log('pid C ' + c.pid);" +
  "c.on('exit', () => console.log('C exited'));" + burner;
let pending = 4;
for (const [name, script] of [['A', burner], ['B', bScript]]) {
  const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  console.log('pid ' + name + ' ' + p.pid);
  createInterface({ input: p.stdout }).on('line', (l) => {
    if (l.startsWith('pid ') || l.startsWith('burnt ')) console.log(l);
    if (l.startsWith('burnt ') || l === 'C exited') { if (--pending === 0) console.log('done'); }
  });
}
setInterval(() => {}, 1000);
`;

test('readTreeCpu sums a process and its descendants, including one that exited mid-window', async () => {
  const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const root = parent.pid!;
    const t0 = readTreeCpu(root);
    const own0 = readProcCpu(root);
    const pids = new Map<string, number>();
    let burntMs = 0;
    let sawAllThree = false;
    await new Promise<void>((resolve, reject) => {
      parent.once('exit', (code) => reject(new Error(`parent exited early (${code})`)));
      createInterface({ input: parent.stdout! }).on('line', (l) => {
        const m = /^pid ([ABC]) (\d+)$/.exec(l);
        if (m) pids.set(m[1]!, Number(m[2]));
        const b = /^burnt ([\d.]+)$/.exec(l);
        if (b) burntMs += Number(b[1]);
        if (pids.size === 3 && !sawAllThree) {
          const live = new Set(processTree(root).map((s) => s.pid));
          // C may already be gone; A and B cannot be (they stay).
          sawAllThree = [pids.get('A')!, pids.get('B')!].every((p) => live.has(p));
        }
        if (l === 'done') resolve();
      });
    });
    const t1 = readTreeCpu(root);
    const own1 = readProcCpu(root);
    assert.ok(sawAllThree, 'children found through their ppid');
    assert.ok(t1.pids.includes(pids.get('A')!) && t1.pids.includes(pids.get('B')!));
    assert.ok(!t1.pids.includes(pids.get('C')!), 'the exited grandchild is no longer in the tree');
    assert.ok(t1.rssMb > t0.rssMb * 0.5 && t1.rssMb > 0);
    const treeMs = (t1.cpuUs - t0.cpuUs) / 1000;
    const ownMs = (own1.cpuUs - own0.cpuUs) / 1000;
    // The three burners' own totals (C's only reachable through B's cutime once it is reaped); the
    // clock tick is 10 ms, allow a few ticks of rounding per process.
    assert.ok(burntMs >= 3 * BURN_MS);
    assert.ok(treeMs >= burntMs - 40, `tree CPU ${treeMs} ms, the burners reported ${burntMs} ms`);
    assert.ok(ownMs < BURN_MS, `the parent alone used ${ownMs} ms`);
    assert.ok(cpuPercent(t0, t1) > cpuPercent(own0, own1));
  } finally {
    // Kills the parent's process group members we made: the parent first, then its children by pid.
    for (const s of processTree(parent.pid!).reverse()) process.kill(s.pid, 'SIGKILL');
  }
});
