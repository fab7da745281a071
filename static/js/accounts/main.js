// Users and API keys page: everything goes through the JSON API, so the page and scripts share one path.
import { deleteJson, getJson, patchJson, postJson } from "../dashboard/api.js";
import { button, element, formatTime, row } from "../dom.js";

const errorBox = document.getElementById("accounts-error");

function showError(error) {
  errorBox.textContent = error.message;
  errorBox.hidden = false;
}

async function guarded(action) {
  errorBox.hidden = true;
  try {
    await action();
  } catch (error) {
    showError(error);
  }
}

async function loadUsers() {
  const { users } = await getJson("users");
  const body = document.querySelector("#users-table tbody");
  body.replaceChildren(...users.map((user) => row([
    user.username,
    user.role,
    user.active ? "yes" : "no",
    formatTime(user.last_login_at),
    element("span", null, "actions"),
  ])));
  body.querySelectorAll(".actions").forEach((cell, index) => {
    const user = users[index];
    const otherRole = user.role === "admin" ? "viewer" : "admin";
    cell.append(
      button(`Make ${otherRole}`, () => guarded(async () => { await patchJson(`users/${user.id}`, { role: otherRole }); await loadUsers(); })),
      button(user.active ? "Disable" : "Enable", () => guarded(async () => { await patchJson(`users/${user.id}`, { active: !user.active }); await loadUsers(); })),
      button("Delete", () => guarded(async () => {
        if (!window.confirm(`Delete ${user.username}?`)) return;
        await deleteJson(`users/${user.id}`);
        await loadUsers();
      }), "small danger"),
    );
  });
}

async function loadKeys() {
  const { api_keys: keys } = await getJson("api-keys");
  const body = document.querySelector("#keys-table tbody");
  body.replaceChildren(...keys.map((key) => row([
    key.name,
    `${key.prefix}…`,
    formatTime(key.created_at),
    formatTime(key.last_used_at),
    key.revoked_at ? `revoked ${formatTime(key.revoked_at)}` : "active",
    key.revoked_at ? "" : button("Revoke", () => guarded(async () => {
      if (!window.confirm(`Revoke ${key.name}? Senders using it stop at once.`)) return;
      await deleteJson(`api-keys/${key.id}`);
      await loadKeys();
    }), "small danger"),
  ])));
}

document.getElementById("user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  guarded(async () => {
    await postJson("users", Object.fromEntries(new FormData(form)));
    form.reset();
    await loadUsers();
  });
});

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  guarded(async () => {
    const created = await postJson("api-keys", Object.fromEntries(new FormData(form)));
    const notice = document.getElementById("new-key");
    notice.querySelector("code").textContent = created.key;
    notice.hidden = false;
    form.reset();
    await loadKeys();
  });
});

guarded(() => Promise.all([loadUsers(), loadKeys()]));
