// The content script: injected into the shopper's tab (scripting.executeScript) only while the
// agent runs there. It takes snapshots of the page and carries out the agent's actions; it reads
// nothing else and listens to nobody (no message listeners, no window messages): the extension
// calls its two functions through executeScript, so a page cannot reach it.
//
// A snapshot is the page's HTML with, on every element, `data-mem1-id` (its index among the live
// elements, which `act` uses to find it again) and `data-mem1-layout` (its computed display,
// visibility, overflow, box count, size, opacity, position in the document, font size, text
// indent, text colour, background colour and image, transform and clip path). The observation is built
// from it by the same Rust code as everywhere else (crate/src/observe::Layout), which decides
// from those facts what is visible (and what colour is behind each text); this script only
// collects them, as the browser computes them.
(() => {
  if (globalThis.__mem1) return;
  // A fresh id per document: the extension tells a new page from the old one by it.
  const doc = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  let live = [];

  function snapshot() {
    const root = document.documentElement;
    const clone = /** @type {Element} */ (root.cloneNode(true));
    const wl = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    const wc = document.createTreeWalker(clone, NodeFilter.SHOW_ELEMENT);
    live = [];
    // An element walker visits elements only.
    for (let l = /** @type {Element} */ (wl.currentNode), c = /** @type {Element} */ (wc.currentNode); l && c;
      l = /** @type {Element} */ (wl.nextNode()), c = /** @type {Element} */ (wc.nextNode())) {
      const st = getComputedStyle(l);
      const r = l.getBoundingClientRect();
      // No box, or inside one the browser does not render (closed <details>, content-visibility).
      const unrendered = st.display !== 'contents' && l.checkVisibility?.() === false;
      const facts = [st.display, st.visibility, st.overflow, unrendered ? 0 : l.getClientRects().length, r.width, r.height,
        parseFloat(st.opacity), r.left + scrollX, r.top + scrollY, parseFloat(st.fontSize) || 0, parseFloat(st.textIndent) || 0,
        st.color, st.backgroundColor, st.backgroundImage === 'none' ? 'none' : 'image', st.transform,
        st.clipPath.startsWith('url(') ? 'url' : st.clipPath];
      c.setAttribute('data-mem1-id', String(live.length));
      c.setAttribute('data-mem1-layout', facts.join('|'));
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

  // An element's name as the observation gives it (crate/src/observe): an input's value, else its
  // text without script, style, template or noscript content, spaces collapsed, lowercased.
  function label(el) {
    if (el instanceof HTMLInputElement) return el.value.replace(/\s+/g, ' ').trim().toLowerCase();
    const skip = (n) => n.parentElement?.closest('script, style, template, noscript') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
    const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, { acceptNode: skip });
    let t = '';
    for (let n = /** @type {Text | null} */ (w.nextNode()); n && t.length < 2000; n = /** @type {Text | null} */ (w.nextNode())) t += n.data;
    return t.replace(/\s+/g, ' ').trim().toLowerCase();
  }

  // Where a control leads, as its markup writes it (what the agent was judged on): a submit
  // button's formaction or its form's action ("" for none: the document itself), a radio's
  // data-url, else an href.
  function written(el) {
    const submits = (el instanceof HTMLButtonElement && el.type === 'submit') || (el instanceof HTMLInputElement && ['submit', 'image'].includes(el.type));
    if (submits && el.form) return el.getAttribute('formaction') ?? el.form.getAttribute('action') ?? '';
    if (el instanceof HTMLInputElement && el.type === 'radio') return el.getAttribute('data-url') ?? el.getAttribute('href');
    return el.getAttribute('href');
  }

  // The shopper sees what the agent acts on: an outline for a moment.
  function flash(el) {
    const { outline, outlineOffset } = el.style;
    el.style.outline = '3px solid #e69500';
    el.style.outlineOffset = '2px';
    setTimeout(() => Object.assign(el.style, { outline, outlineOffset }), 1200);
  }

  // A new tab would leave the agent reading the old page: whatever a link or form targets, it is
  // followed in this tab (and was judged like any other).
  function sameTab(el) {
    if (el instanceof HTMLAnchorElement || el instanceof HTMLAreaElement) el.target = '_self';
    if (el.form) el.form.target = '_self';
    if (el.hasAttribute?.('formtarget')) el.setAttribute('formtarget', '_self');
  }

  function changed(what) {
    return new Error(`the page changed under the agent: ${what}`);
  }

  function act(cmd) {
    const el = live[Number(cmd?.node)];
    if (!el || !el.isConnected) throw changed('its target is gone');
    if (cmd.kind === 'search') {
      if (!(el instanceof HTMLInputElement) || !['text', 'search'].includes(el.type) || sensitive(el)) {
        throw new Error('refused: that is not a search box');
      }
      if ((el.form ? el.form.getAttribute('action') ?? '' : null) !== (cmd.action ?? null)) throw changed('the search box now sends its words elsewhere');
      flash(el);
      el.focus();
      // The native setter, then the events a user's typing fires: a framework that tracks the
      // field's value (React, Vue) sees the change.
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, String(cmd.text ?? ''));
      el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: String(cmd.text ?? '') }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      // After this call has answered (submitting may unload the page).
      setTimeout(() => {
        if (el.form) {
          sameTab(el);
          el.form.requestSubmit();
        } else for (const type of ['keydown', 'keypress', 'keyup']) el.dispatchEvent(new KeyboardEvent(type, { key: 'Enter', code: 'Enter', keyCode: 13, bubbles: true }));
      }, 0);
    } else if (cmd.kind === 'click') {
      // Only what the agent saw: a page that relabels or re-aims a control between the snapshot
      // and the click (to turn "Add to cart" into "Place order", or a link to another site) is
      // not clicked.
      const now = label(el);
      if (typeof cmd.text !== 'string' || now !== cmd.text) throw changed(`${JSON.stringify(cmd.key)} now reads ${JSON.stringify(now.slice(0, 80))}`);
      if (written(el) !== (cmd.target ?? null)) throw changed(`${JSON.stringify(cmd.key)} now leads elsewhere`);
      sameTab(el);
      flash(el);
      setTimeout(() => el.click(), 0);
    } else if (cmd.kind === 'select') {
      const menu = el.closest('select');
      const now = el instanceof HTMLOptionElement ? el.label.replace(/\s+/g, ' ').trim().toLowerCase() : null;
      if (!menu || now !== cmd.key) throw changed(`the choice ${JSON.stringify(cmd.key)} is gone`);
      flash(menu);
      /** @type {HTMLOptionElement} */ (el).selected = true;
      menu.dispatchEvent(new Event('input', { bubbles: true }));
      menu.dispatchEvent(new Event('change', { bubbles: true }));
    } else {
      throw new Error(`unknown command ${JSON.stringify(cmd.kind)}`);
    }
    return { doc };
  }

  globalThis.__mem1 = { snapshot, act, doc: () => doc };
})();
