// The blur tool: drag rectangles over a photo (or type them), the server renders the
// blur with Pillow and replaces the stored file. Rectangles are sent in the photo's own
// pixels, whatever size it is shown at.
import { h, toast } from '../dom.js';
import * as api from '../api.js';

export function blurTool(item) {
  return new Promise((resolve) => {
    const rects = [];
    const img = h('img', { src: item.url, alt: item.title || 'Photo to blur', draggable: 'false' });
    const layer = h('div', { class: 'blur-layer', 'aria-hidden': 'true' });
    const stage = h('div', { class: 'blur-stage' }, img, layer);
    const list = h('ul', { class: 'muted', 'aria-label': 'Areas to blur' });
    const nums = ['x', 'y', 'w', 'h'].map((k) => h('input', { type: 'number', min: 0, name: `blur-${k}`, 'aria-label': k, class: 'num' }));
    const scale = () => (img.naturalWidth || 1) / (img.clientWidth || 1);
    function draw() {
      // Positioned through the CSSOM: the page's CSP refuses inline style attributes.
      layer.replaceChildren(...rects.map((r) => {
        const el = h('div', { class: 'blur-rect' });
        Object.assign(el.style, { left: `${r.x / scale()}px`, top: `${r.y / scale()}px`, width: `${r.w / scale()}px`, height: `${r.h / scale()}px` });
        return el;
      }));
      list.replaceChildren(...rects.map((r) => h('li', {}, `${r.w}\u00d7${r.h} at ${r.x},${r.y}`)));
    }
    let start = null;
    const at = (ev) => {
      const box = stage.getBoundingClientRect();
      return [Math.max(0, ev.clientX - box.left), Math.max(0, ev.clientY - box.top)];
    };
    stage.addEventListener('pointerdown', (ev) => { start = at(ev); ev.preventDefault(); });
    stage.addEventListener('pointerup', (ev) => {
      if (!start) return;
      const [x2, y2] = at(ev);
      const s = scale();
      const r = { x: Math.round(Math.min(start[0], x2) * s), y: Math.round(Math.min(start[1], y2) * s),
        w: Math.round(Math.abs(x2 - start[0]) * s), h: Math.round(Math.abs(y2 - start[1]) * s) };
      start = null;
      if (r.w >= 2 && r.h >= 2) { rects.push(r); draw(); }
    });
    const addTyped = h('button', { type: 'button', onclick: () => {
      const [x, y, w, hh] = nums.map((n) => Number(n.value));
      if (w > 0 && hh > 0) { rects.push({ x, y, w, h: hh }); draw(); }
    } }, 'Add area');
    const dialog = h('dialog', { class: 'dialog wide', 'aria-label': 'Blur a photo' });
    const apply = h('button', { type: 'button', class: 'primary', onclick: async () => {
      if (!rects.length) { toast('Drag over the area to blur first', 'error'); return; }
      apply.disabled = true;
      try {
        const out = await api.post(`/api/media/${item.id}/blur`, { rects });
        toast('The photo is blurred');
        dialog.close();
        resolve(out);
      } catch (err) {
        toast(err.message, 'error');
        apply.disabled = false;
      }
    } }, 'Blur and replace the photo');
    dialog.append(h('h2', {}, `Blur: ${item.title || 'photo'}`),
      h('p', { class: 'muted' }, 'Drag over each face or person to blur, or type an area in the photo\u2019s pixels.'),
      stage, list,
      h('div', { class: 'row' }, ...nums, addTyped),
      h('div', { class: 'row' }, apply,
        h('button', { type: 'button', onclick: () => { rects.length = 0; draw(); } }, 'Clear'),
        h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel')));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(null); });
    document.body.append(dialog);
    dialog.showModal();
  });
}
