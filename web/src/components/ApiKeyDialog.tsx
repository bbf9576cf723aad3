import { useState } from "react";

import { useAuth } from "../stores/auth";
import { Modal } from "./Modal";

/** Asks once for the server's API key; it is kept in localStorage and sent with every request. */
export function ApiKeyDialog() {
  const prompting = useAuth((s) => s.prompting);
  const rejected = useAuth((s) => s.rejected);
  const setKey = useAuth((s) => s.setKey);
  const dismiss = useAuth((s) => s.dismiss);
  const [value, setValue] = useState("");
  if (!prompting) return null;
  return (
    <Modal title="API key required" onClose={dismiss}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) setKey(value);
        }}
      >
        <p>
          {rejected
            ? "The server refused the saved API key. Enter the right one."
            : "This server needs an API key. It is kept on this device only."}
        </p>
        <label className="field">
          <span>API key</span>
          <input
            type="password"
            autoComplete="current-password"
            value={value}
            data-autofocus
            onChange={(e) => setValue(e.target.value)}
          />
        </label>
        <div className="row end">
          <button type="button" className="btn" onClick={dismiss}>
            Later
          </button>
          <button type="submit" className="btn primary" disabled={!value.trim()}>
            Save key
          </button>
        </div>
      </form>
    </Modal>
  );
}
