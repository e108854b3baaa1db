// The content script: injected into the shopper's tab (scripting.executeScript) only while the
// agent runs there. It takes snapshots of the page and carries out the agent's actions; it reads
// nothing else and listens to nobody (no message listeners, no window messages): the extension
// calls its two functions through executeScript, so a page cannot reach it.
//
// A snapshot is the page's HTML with, on every element, `data-mem1-id` (its index among the live
// elements, which `act` uses to find it again) and `data-mem1-layout` (its computed display,
// visibility, overflow, box count and size). The observation is built from it by the same Rust
// code as everywhere else (crate/src/observe), which decides from those facts what is visible.
(() => {
  if (globalThis.__mem1) return;
  // A fresh id per document: the extension tells a new page from the old one by it.
  const doc = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  let live = [];

  function snapshot() {
    const root = document.documentElement;
    const clone = root.cloneNode(true);
    const wl = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    const wc = document.createTreeWalker(clone, NodeFilter.SHOW_ELEMENT);
    live = [];
    for (let l = wl.currentNode, c = wc.currentNode; l && c; l = wl.nextNode(), c = wc.nextNode()) {
      const st = getComputedStyle(l);
      const r = l.getBoundingClientRect();
      c.setAttribute('data-mem1-id', String(live.length));
      c.setAttribute('data-mem1-layout', `${st.display}|${st.visibility}|${st.overflow}|${l.getClientRects().length}|${r.width}|${r.height}`);
      live.push(l);
    }
    // Never rendered, never read: leave them out of the message.
    for (const e of clone.querySelectorAll('script, style, noscript, template')) e.textContent = '';
    return { doc, url: location.href, title: document.title, html: '<!DOCTYPE html>' + clone.outerHTML };
  }

  // Fields the agent never types into, whatever the page calls them.
  function sensitive(el) {
    const ac = (el.getAttribute('autocomplete') || '').toLowerCase();
    const hay = `${el.name || ''} ${el.id || ''} ${ac}`.toLowerCase();
    return el.type === 'password' || /(^|\s)(cc-|current-password|new-password|one-time-code)/.test(ac)
      || /pass(word)?|card|cvc|cvv|iban|ssn|security.?code/.test(hay);
  }

  function act(cmd) {
    const el = live[Number(cmd?.node)];
    if (!el || !el.isConnected) throw new Error('the page changed under the agent: its target is gone');
    if (cmd.kind === 'search') {
      if (!(el instanceof HTMLInputElement) || !['text', 'search'].includes(el.type) || sensitive(el)) {
        throw new Error('refused: that is not a search box');
      }
      el.focus();
      el.value = String(cmd.text ?? '');
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      // After this call has answered (submitting may unload the page).
      setTimeout(() => {
        if (el.form) el.form.requestSubmit();
        else for (const type of ['keydown', 'keypress', 'keyup']) el.dispatchEvent(new KeyboardEvent(type, { key: 'Enter', code: 'Enter', keyCode: 13, bubbles: true }));
      }, 0);
    } else if (cmd.kind === 'click') {
      setTimeout(() => el.click(), 0);
    } else {
      throw new Error(`unknown command ${JSON.stringify(cmd.kind)}`);
    }
    return { doc };
  }

  globalThis.__mem1 = { snapshot, act, doc: () => doc };
})();
