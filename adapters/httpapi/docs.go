package httpapi

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// The /docs page: Redoc 3.0.1 (docs/README.md) renders the OpenAPI document. Its assets are
// embedded, so the page works offline and loads nothing from elsewhere.
var (
	//go:embed docs/index.html
	docsPage []byte
	//go:embed docs/redoc.standalone.js
	redocJS []byte
)

// docsCSP relaxes the API's "default-src 'none'" only as far as the viewer needs, and only on
// /docs: its own script and the document from this origin, the inline styles its components
// set, data: images and fonts, and a blob: worker for search. Everything else stays refused.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// redocGzip is the bundle compressed once, on first request (it is 2.3 MB raw, ~0.6 MB gzipped).
var redocGzip = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = w.Write(redocJS)
	_ = w.Close()
	return b.Bytes()
})

// serveDocs: GET /docs, the API reference page.
func (s *Server) serveDocs(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(docsPage)
}

// serveRedoc: GET /docs/redoc.standalone.js, the viewer's bundle, gzipped when the client
// accepts it. It changes only with the binary.
func (s *Server) serveRedoc(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	c.Vary(fiber.HeaderAcceptEncoding)
	if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(redocGzip())
	}
	return c.Send(redocJS)
}
