// Swagger UI on the bridge's own /openapi.json (an external file: the CSP allows no inline script).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
