/* Lazy plotly.js: the bundle is fetched when the first dcc.Graph asks for it, not before.
 *
 * dash 4.4.1's dcc.Graph, when it first renders, takes `Promise.resolve(window.Plotly || <download of the full
 * 4.8 MB plotly.min.js>)` and then calls the global `Plotly`. Here `window.Plotly` starts as a getter: its first
 * read appends a script tag for the bundle served by the app (app.dashboard.PLOTLY_JS: the installed plotly package's
 * plotly.min.js, cached by browsers for a year) and returns a promise of it; the bundle's own
 * `window.Plotly = Plotly` hits the setter, which replaces the getter by the real object. So the bundle runs while
 * the page waits for its layout and callbacks, not before the Dash renderer starts as a plain script tag would
 * (measured ~30 ms of the page load), and only once. When plotly is upgraded, change the version below (a test
 * compares it with the installed package's).
 */
(function () {
  var BUNDLE = "/assets/vendor/plotly-4.1.1.min.js";
  var loading = null;
  Object.defineProperty(window, "Plotly", {
    configurable: true,
    get: function () {
      if (!loading) {
        loading = new Promise(function (resolve, reject) {
          var script = document.createElement("script");
          script.src = BUNDLE;
          script.onload = function () { resolve(window.Plotly); };
          script.onerror = reject;
          document.head.appendChild(script);
        });
      }
      return loading;
    },
    set: function (plotly) {
      Object.defineProperty(window, "Plotly", {value: plotly, writable: true, configurable: true, enumerable: true});
    },
  });
})();
