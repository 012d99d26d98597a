// Runs before the page paints (loaded without defer): apply the chosen theme, no flash.
"use strict";
(function () {
  try {
    var theme = localStorage.getItem("coolpapers.theme");
    if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage off: follow the system */ }
})();
