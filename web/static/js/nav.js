// Navigation: the one way to change screens, and same-site links followed without a page
// load. The router (app.js) starts it with itself; screens and the session call navigate()
// and never import the router, so imports point one way: app.js -> screens -> this.
let router = null;

export function navigate(path, { replace: replaceState = false } = {}) {
  if (!router) throw new Error('navigate() before the router started');
  if (replaceState) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  router();
}

// Called once at boot with the router: a click on one of our links, and the browser's
// back and forward buttons, draw the screen in place.
export function startNavigation(route) {
  router = route;
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest('a[href]');
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
    const href = a.getAttribute('href');
    // data-server-page: a page the server answers (the provider sign-in's start), not a screen.
    if (!href.startsWith('/') || href.startsWith('/api/') || href.startsWith('/static/') || a.hasAttribute('download') || a.hasAttribute('data-server-page') || a.target) return;
    ev.preventDefault();
    navigate(href);
  });
  window.addEventListener('popstate', route);
}
