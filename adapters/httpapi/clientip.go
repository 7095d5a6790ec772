package httpapi

// The client address: who a request comes from when trusted proxies stand between (SECURITY
// B12). The access log, the audit trail and the rate limits all take it from clientIP.

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientIP is the caller's address, the one that rate limits count and logs show.
// X-Forwarded-For (or, without it, Forwarded) is believed only when the peer is a trusted proxy
// (SECURITY B12), and then read from the right: the first address that is not itself a trusted
// proxy is the client, so a client cannot forge its address by sending its own header through
// the proxy.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return ""
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := forwardedHops(c)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(hops[i])
		if err != nil {
			break // a malformed or obfuscated hop: stop believing the header here
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

// forwardedHops lists the client-side hops a proxy recorded, oldest first: X-Forwarded-For
// (every such header, in order), or when there is none the for= parameters of Forwarded
// (RFC 7239).
func forwardedHops(c *fiber.Ctx) []string {
	var hops []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	if len(hops) > 0 {
		return hops
	}
	for _, v := range c.Request().Header.PeekAll("Forwarded") {
		for _, elem := range strings.Split(string(v), ",") {
			hop := "" // an element without for= is a hop we cannot place: it stops the walk
			for _, pair := range strings.Split(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") {
					hop = strings.Trim(val, `"`)
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// parseHop reads one hop: an address, or (Forwarded) "[v6]", "[v6]:port" or "v4:port".
func parseHop(h string) (netip.Addr, error) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a, nil
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return netip.ParseAddr(h[1 : len(h)-1])
	}
	ap, err := netip.ParseAddrPort(h)
	return ap.Addr(), err
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
