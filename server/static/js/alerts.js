// The alerts page (to be built).
"use strict";
GW.start(async (_me) => {});
