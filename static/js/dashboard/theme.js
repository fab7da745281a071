// Classic (non-module) script loaded before the dashboard renders: apply the saved light/dark choice
// early so the page does not flash the other theme. controls.js changes and saves the choice.
(function applySavedTheme() {
  try {
    var saved = window.localStorage.getItem("pulseboard.theme");
    if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
  } catch (error) {
    // Storage can be disabled; the system preference (prefers-color-scheme) still applies.
  }
})();
