// A beep for new alerts. Browsers play sound only after a user gesture, so a button enables it
// (one click per page load); until then beep() is silent. High-priority alerts beep three times.
"use strict";
GW.sound = (button, shownWhenOn) => {
  let audio = null;
  button.hidden = false;
  button.addEventListener("click", () => {
    audio = new AudioContext();
    audio.resume();
    button.hidden = true;
    if (shownWhenOn) shownWhenOn.hidden = false;
  });
  return {
    get on() { return audio !== null; },
    beep(high) {
      if (!audio) return;
      const start = audio.currentTime + 0.02;
      for (let i = 0; i < (high ? 3 : 1); i++) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = high ? 880 : 660;
        gain.gain.value = 0.4;
        osc.connect(gain).connect(audio.destination);
        osc.start(start + i * 0.35);
        osc.stop(start + i * 0.35 + 0.22);
      }
      document.body.dataset.sounds = String(Number(document.body.dataset.sounds || 0) + 1);
    },
  };
};
