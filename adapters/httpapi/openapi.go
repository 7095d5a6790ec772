package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/gofiber/fiber/v2"
	"go.yaml.in/yaml/v3"
)

// openapiYAML is the OpenAPI 3.1 document of every route: the one source of the API contract.
// A new route goes into openapi.yaml with its responses; test/e2e checks both that every route
// Fiber serves is there (and the reverse) and that every e2e request and response matches it.
//
//go:embed openapi.yaml
var openapiYAML []byte

// openapiJSON is the same document as JSON, keys in the order the YAML has them. It is made on
// first use, not at start: converting runs the YAML parser over the whole document (some 28,000
// allocations), which only /openapi.json and `portcullis openapi --json` need.
var openapiJSON = sync.OnceValue(func() []byte { return mustYAMLToJSON(openapiYAML) })

// OpenAPIYAML returns the OpenAPI document as YAML (as written in openapi.yaml).
func OpenAPIYAML() []byte { return bytes.Clone(openapiYAML) }

// OpenAPIJSON returns the OpenAPI document as JSON.
func OpenAPIJSON() []byte { return bytes.Clone(openapiJSON()) }

// openapiDocCache lets clients and proxies keep the document for five minutes; it changes only
// with the binary.
const openapiDocCache = "public, max-age=300"

// serveOpenAPIJSON: GET /openapi.json.
func (s *Server) serveOpenAPIJSON(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, openapiDocCache)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(openapiJSON())
}

// serveOpenAPIYAML: GET /openapi.yaml, as application/yaml (RFC 9512).
func (s *Server) serveOpenAPIYAML(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, openapiDocCache)
	c.Set(fiber.HeaderContentType, "application/yaml; charset=utf-8")
	return c.Send(openapiYAML)
}

func mustYAMLToJSON(src []byte) []byte {
	out, err := yamlToJSON(src)
	if err != nil {
		// openapi.yaml is embedded and checked by the tests; a broken one is a build defect.
		panic("httpapi: openapi.yaml: " + err.Error())
	}
	return out
}

// yamlToJSON converts a YAML document to indented JSON, keeping the order of mapping keys
// (decoding into map[string]any would sort them, and a reader of the JSON expects the order
// the document was written in).
func yamlToJSON(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &root); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document", n.Line)
		}
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return fmt.Errorf("line %d: only plain scalar keys are supported", k.Line)
			}
			key, _ := json.Marshal(k.Value)
			buf.Write(key)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		buf.WriteString("null")
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return err
		}
		buf.WriteString(strconv.FormatBool(b))
	case "!!int", "!!float":
		var f any
		if err := n.Decode(&f); err != nil {
			return err
		}
		raw, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(raw)
	default:
		raw, _ := json.Marshal(n.Value)
		buf.Write(raw)
	}
	return nil
}
