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
