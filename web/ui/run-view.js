// One episode as the demo and the extension show it: the turn, tokens in context and speed; the
// context chart (live curves beside a recorded baseline); the agent's internal state; the list of
// turns, each with its action, internal state, figures and, on demand, what the model read (the
// observation) and wrote (its whole output); and the result. The engine's events
// (crate/src/wasm/report.rs) drive it, in the page (the demo) or over the extension's port.
import { drawChart } from './chart.js';
import { $, el, svg } from './dom.js';
import { fmt } from './format.js';

/**
 * @typedef {{ type: 'turn_start', turn: number, prompt_tokens: number, actions: string[] }
 *   | { type: 'note', text: string }
 *   | { type: 'prefill', turn: number, done: number, tokens: number }
 *   | { type: 'token', turn: number, tokens: number, tok_s: number }
 *   | TurnEvent} EngineEvent
 * @typedef {{ type: 'turn', turn: number, action: string, valid: boolean, invalid_reason?: string | null,
 *   summary: string, output: string, page: string, observation: string, prompt_tokens: number,
 *   context_tokens: number, prefill_tokens: number, decode_tokens: number, prefill_tok_s: number,
 *   decode_tok_s: number, seconds: number, problems: string[], reward: number,
 *   submissions_per_token?: number, readback_bytes_per_token?: number,
 *   tokens_per_pass?: number, drafted?: number, taken?: number }} TurnEvent
 * @typedef {{ mode: string, context_per_turn: number[] }} RecordedRun
 * @typedef {{ command: string, policy?: string, model?: string, backend: string, date: string, commit?: string,
 *   goal: string, runs: RecordedRun[] }} Baseline
 */

const MODE_NAME = /** @type {Record<string, string>} */ ({ mem1: 'MEM1', full: 'full history' });

/** The view's elements (the same ids in both pages). */
function markup() {
  /** @param {string} id @param {string} label */
  const stat = (id, label) => el('div', {}, el('span', { id }, '–'), el('small', {}, label));
  return [
    el('div', { class: 'stats' }, stat('turn', 'turn'), stat('context', 'tokens in context'), stat('speed', 'tokens/s')),
    el('div', { class: 'chart-title' }, 'Tokens in context per turn'),
    svg('svg', { id: 'chart', role: 'img', 'aria-label': 'tokens in context per turn' }),
    el('div', { id: 'chart-legend', class: 'legend' }),
    el('div', { id: 'chart-note', class: 'note' }),
    el('h2', {}, 'Internal state'),
    el('p', { id: 'state', class: 'state' }, '–'),
    el('div', { id: 'result', hidden: '' }),
    el('h2', {}, 'Turns'),
    el('ol', { id: 'turns' }),
  ];
}

export class RunView {
  /**
   * @param {HTMLElement} root where the view is drawn
   * @param {(text: string) => void} status shows a line of progress
   */
  constructor(root, status) {
    root.replaceChildren(...markup());
    this.status = status;
    /** @type {Record<string, [number, number][]>} live points by mode, for the current goal */
    this.live = {};
    /** @type {Baseline | null} */
    this.recorded = null;
    this.mode = 'mem1';
    this.maxTurns = 10;
    this.t0 = 0;
    this.redraw();
  }

  /** The recorded baseline (web/data/baseline.json), drawn dashed beside the live curves. @param {Baseline | null} b */
  setRecorded(b) {
    this.recorded = b;
    const note = $('chart-note');
    if (b) {
      note.replaceChildren('Dashed: a recorded measurement, not this run — ', el('code', {}, b.command),
        ` (${b.policy || b.model}; ${b.backend}; ${b.date}${b.commit ? ', commit ' + b.commit : ''}) on the goal “${b.goal}”.`);
    } else note.textContent = '';
    this.redraw();
  }

  /** Forgets the live curves (a new goal). */
  clearCurves() {
    this.live = {};
    this.redraw();
  }

  redraw() {
    /** @type {import('./chart.js').Series[]} */
    const series = Object.entries(this.live).filter(([, p]) => p.length)
      .map(([mode, pts]) => ({ label: `${MODE_NAME[mode] || mode}, this run`, cls: `live-${mode}`, live: true, pts }));
    for (const r of this.recorded?.runs || []) {
      series.push({ label: `${MODE_NAME[r.mode] || r.mode}, recorded`, cls: `rec-${r.mode}`, live: false, pts: r.context_per_turn.map((v, i) => [i + 1, v]) });
    }
    drawChart(/** @type {SVGSVGElement} */ (/** @type {unknown} */ ($('chart'))), $('chart-legend'), series, this.maxTurns);
  }

  /** A new episode: the turns and the state of the last one go, its mode's live curve starts over. @param {{ mode?: string, maxTurns?: number }} o */
  begin({ mode = 'mem1', maxTurns = 10 }) {
    this.mode = mode;
    this.maxTurns = maxTurns;
    this.live[mode] = [];
    $('turns').replaceChildren();
    $('result').hidden = true;
    for (const id of ['turn', 'context', 'speed']) $(id).textContent = '–';
    $('state').textContent = '–';
    this.redraw();
  }

  /** @param {number} n */
  item(n) {
    let li = /** @type {HTMLElement | null} */ (document.querySelector(`#turns li[data-turn="${n}"]`));
    if (!li) {
      li = el('li', { 'data-turn': String(n), class: 'pending' }, el('div', { class: 'head' }, `turn ${n}: reading the page…`));
      $('turns').append(li);
    }
    return li;
  }

  /** One engine event. @param {EngineEvent} ev */
  event(ev) {
    if (ev.type === 'turn_start') {
      this.t0 = performance.now();
      this.item(ev.turn);
      $('turn').textContent = `${ev.turn}/${this.maxTurns}`;
      this.status(`Turn ${ev.turn}: reading the page (${ev.prompt_tokens} tokens in the prompt, ${ev.actions.length} actions)`);
    } else if (ev.type === 'prefill') {
      this.status(`Turn ${ev.turn}: reading the prompt, ${ev.done} of ${ev.tokens} new tokens (${fmt((performance.now() - this.t0) / 1000, 0)} s)`);
    } else if (ev.type === 'token') {
      $('speed').textContent = fmt(ev.tok_s, 1);
      this.status(`Turn ${ev.turn}: writing, ${ev.tokens} tokens at ${fmt(ev.tok_s, 1)} tokens/s`);
    } else if (ev.type === 'turn') {
      this.turn(ev);
    } else if (ev.type === 'note') {
      // Said once, where the turns are: a setting the engine ignored on this site, say.
      $('turns').append(el('li', { class: 'note' }, ev.text));
      this.status(ev.text);
    }
  }

  /** @param {TurnEvent} ev */
  turn(ev) {
    const li = this.item(ev.turn);
    li.className = ev.valid ? 'done' : 'done invalid';
    li.replaceChildren(
      el('div', { class: 'head' }, el('span', { class: 'n' }, `turn ${ev.turn}`), el('code', { class: 'action' }, ev.action || '(no action)'),
        !ev.valid && el('span', { class: 'bad' }, `not carried out: ${ev.invalid_reason || 'invalid'}`)),
      el('div', { class: 'summary' }, el('b', {}, 'internal state: '), ev.summary || '(none)'),
      el('div', { class: 'nums' },
        `on ${/^https?:/.test(ev.page) ? ev.page : `the ${ev.page} page`} · ${ev.prompt_tokens} tokens in the prompt · ${ev.context_tokens} in context · ` +
        `read ${ev.prefill_tokens} (${fmt(ev.prefill_tok_s, 0)} tokens/s) · wrote ${ev.decode_tokens} (${fmt(ev.decode_tok_s, 1)} tokens/s) · ${fmt(ev.seconds)} s` +
        (ev.tokens_per_pass === undefined ? '' : ` · ${fmt(ev.tokens_per_pass, 2)} tokens a forward pass` +
          (ev.drafted ? ` (${ev.taken} of ${ev.drafted} draft tokens taken)` : '')) +
        (ev.submissions_per_token === undefined ? '' :
          ` · GPU: ${fmt(ev.submissions_per_token, 2)} submissions and ${fmt(ev.readback_bytes_per_token ?? 0, 1)} bytes read back per token`) +
        (ev.problems.length ? ` · repaired: ${ev.problems.join(', ')}` : '')),
      el('details', {}, el('summary', {}, 'what the model read and wrote'),
        el('div', { class: 'obs' }, el('b', {}, 'observation: '), ev.observation || '(not kept)'),
        el('pre', { class: 'out' }, ev.output)),
    );
    $('context').textContent = String(ev.context_tokens);
    $('speed').textContent = fmt(ev.decode_tok_s, 1);
    $('state').textContent = ev.summary || '(empty)';
    (this.live[this.mode] ||= []).push([ev.turn, ev.context_tokens]);
    this.redraw();
  }

  /**
   * The episode's end: the result panel, and what the page should say and be in: `state` is
   * 'done' (bought, or scored on the store), 'ended' (stopped, declined, turn limit) or 'error'.
   * @param {any} r the result `run` or `runLive` resolved to
   * @returns {{ state: 'done' | 'ended' | 'error', how: string }}
   */
  finish(r) {
    for (const li of document.querySelectorAll('#turns li.pending')) li.remove();
    const ep = r.episode || {};
    const box = $('result');
    const { state, how } = outcome(r);
    const failed = state === 'error';
    /** @type {(Node | string)[]} */
    const kids = [el('div', { class: `reward${failed ? ' bad' : state === 'done' ? ' ok' : ''}` }, how)];
    if (r.purchased?.asin) {
      const opts = r.purchased.options.map((/** @type {string[]} */ o) => o.join(': ')).join(', ') || 'no options';
      kids.push(el('div', { class: 'meta' }, `bought ${r.purchased.asin} “${r.purchased.title}” with ${opts}`));
    }
    if (r.cart) {
      const rewards = ep.item_rewards || [];
      kids.push(el('div', { class: 'meta' }, `checked out ${r.cart.length} item(s); each list item's reward: ` +
        rewards.map((/** @type {number} */ x, /** @type {number} */ i) => `${i + 1}: ${fmt(x, 2)}`).join(', ')));
      for (const c of r.cart) {
        const opts = c.options.map((/** @type {string[]} */ o) => o.join(': ')).join(', ') || 'no options';
        kids.push(el('div', { class: 'meta' }, `bought ${c.asin} “${c.title}” with ${opts}`));
      }
    }
    if (r.reward_info) {
      const rows = Object.entries(r.reward_info).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, typeof v === 'number' ? fmt(v, 3) : String(v))));
      kids.push(el('table', { class: 'breakdown' }, el('caption', {}, 'reward breakdown (WebShop: type factor × matched attributes, options and price)'), ...rows));
    }
    kids.push(el('div', { class: 'meta' },
      `${MODE_NAME[ep.mode] || ep.mode || 'MEM1'} mode · ${ep.turns ?? 0} turns · peak ${ep.peak_context_tokens ?? '–'} tokens in context · ` +
      `${ep.invalid_actions ?? 0} actions not carried out · ${fmt(ep.seconds)} s${r.model ? ' · ' + r.model.backend : ''}`));
    box.replaceChildren(...kids);
    box.hidden = false;
    return { state, how };
  }
}

/**
 * How an episode ended, in words, and the state the pages show it in: 'done' (bought, or
 * scored on the store), 'ended' (stopped, declined, turn limit) or 'error'.
 * @param {any} r the result `run` (the store) or `runLive` (a live page) resolved to
 * @returns {{ state: 'done' | 'ended' | 'error', how: string }}
 */
export function outcome(r) {
  const ep = r.episode || {};
  const failed = !!r.error && !r.stopped;
  if ('scored' in r) {
    const how = failed ? `Ended by an error: ${r.error}` : r.stopped ? `Stopped after ${ep.turns} turn(s).`
      : !ep.done ? `Turn limit (${ep.turns}) reached without buying: reward ${fmt(ep.reward, 2)}.`
      : !r.scored ? 'Bought. A typed goal has no target product, so the purchase is not scored.'
      : `Reward ${fmt(r.reward, 3)} ${ep.success ? '(success)' : '(partial)'}${(ep.items || 1) > 1 ? `, the mean of ${ep.items} items` : ''}.`;
    return { state: failed ? 'error' : ep.done ? 'done' : 'ended', how };
  }
  const how = r.purchased ? 'Purchased (confirmed by you).' : r.declined ? 'You declined the purchase; nothing was bought.'
    : r.stopped ? 'Stopped.' : failed ? `Ended by an error: ${r.error}` : `No purchase within ${ep.turns ?? 0} turns.`;
  return { state: r.purchased ? 'done' : failed ? 'error' : 'ended', how };
}
