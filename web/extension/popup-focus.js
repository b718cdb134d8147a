// Shared by the popup's two scripts (popup.js, popup-corrections.js).

/**
 * A button the user just used that is then disabled drops the keyboard focus to the page's start (and a
 * screen reader with it): the focus moves to `outcome`, the line that reads the result, instead.
 */
export function setDisabledKeepingFocus(button, disabled, outcome) {
  const hadFocus = document.activeElement === button;
  button.disabled = disabled;
  if (hadFocus && disabled) outcome.focus();
}

/**
 * Runs `action` (async) for a press on `button`, unless an earlier press's action still runs: a double
 * click would do it twice (undo two corrections, save two files, say "Forgot 0" over "Forgot 2"). Until
 * the action ends the button is aria-disabled (dimmed by popup.css; `disabled` would drop the keyboard
 * focus) and presses do nothing. Returns the action's result, or undefined for an ignored press.
 */
export async function oncePressed(button, action) {
  if (button.getAttribute('aria-disabled') === 'true') return undefined;
  button.setAttribute('aria-disabled', 'true');
  try {
    return await action();
  } finally {
    button.removeAttribute('aria-disabled');
  }
}
