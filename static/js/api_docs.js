// The API documentation page: Swagger UI (static/vendor, from npm) renders the server's own OpenAPI document.
// No validator badge (it would load an image from validator.swagger.io, which the CSP refuses); "Try it out"
// calls carry the page's CSRF token, as every write from a page does.
import { byId } from "./dom.js";

const root = byId("api-docs");
const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

window.SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  deepLinking: true,
  validatorUrl: null,
  defaultModelsExpandDepth: 0,
  requestInterceptor: (request) => {
    if (request.method && request.method.toUpperCase() !== "GET") request.headers["X-CSRFToken"] = csrfToken;
    return request;
  },
  onComplete: () => { root.dataset.ready = "true"; },
});
