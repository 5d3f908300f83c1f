// Building DOM from data without ever parsing HTML: every string becomes a text node.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let fieldSeq = 0;

// A labelled form field: <label for=id>text</label><input id=id ...>.
export function field(label, input, hint) {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  const parts = [h('label', { for: id }, label), input];
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute('aria-describedby', hintId);
    parts.push(h('small', { id: hintId, class: 'muted' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

export function fmtTime(value) {
  if (!value) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function fmtClock(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

let toastTimer = null;
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.className = `show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = ''; }, 4000);
}

// A modal-ish prompt built from a <dialog>; resolves with the entered values or null.
export function ask(title, fields, submitLabel = 'OK') {
  return new Promise((resolve) => {
    const inputs = {};
    const body = fields.map((f) => {
      let input;
      if (f.type === 'textarea') {
        input = h('textarea', { name: f.name, required: f.required, rows: 3, maxlength: f.maxlength });
        input.value = f.value || '';
      } else if (f.type === 'select') {
        input = h('select', { name: f.name }, f.options.map(([value, label]) => h('option', { value: String(value), selected: String(value) === String(f.value) }, label)));
      } else {
        input = h('input', { name: f.name, type: f.type || 'text', required: f.required, value: f.value || '', min: f.min, max: f.max });
      }
      inputs[f.name] = input;
      return field(f.label, input, f.hint);
    });
    const dialog = h('dialog', { class: 'dialog', 'aria-label': title });
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title),
      body,
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary', value: 'ok' }, submitLabel),
        h('button', { type: 'button', onclick: () => { dialog.close(); } }, 'Cancel')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const out = {};
      for (const [k, input] of Object.entries(inputs)) out[k] = input.value;
      dialog.returnValue = 'ok';
      dialog.close();
      resolve(out);
    });
    dialog.addEventListener('close', () => {
      if (dialog.returnValue !== 'ok') resolve(null);
      dialog.remove();
    });
    dialog.append(form);
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A dialog that shows lines of text and a Close button.
export function showInfo(title, lines) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'dialog', 'aria-label': title },
      h('h2', {}, title),
      h('ul', {}, lines.map((l) => h('li', {}, l))),
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', onclick: () => dialog.close() }, 'Close')));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}
