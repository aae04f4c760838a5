// Package faultproxy is a loopback TCP proxy that injects the faults of a
// bad network between a client and its server: requests dropped before the
// server sees them, replies lost after the server acted on the request,
// connections closed part way through a reply, and delays. Tests put it in
// front of a real server to prove that a client neither loses nor repeats
// work when the network fails it.
//
// The proxy takes each read from the client as one request, which holds for
// a client that waits for each reply before sending the next request (as
// stategen's backends do; a pipeline counts as one request).
package faultproxy

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config says which share of requests meets each fault. The shares are
// drawn independently per request, in the order of the fields, and the
// first that hits decides; a request that meets none is forwarded as it is,
// after the delay.
type Config struct {
	// DropRequest is the share of requests whose connection is closed
	// before the request reaches the server.
	DropRequest float64
	// LoseReply is the share of requests that reach the server and whose
	// reply is then lost: the connection closes once the server answered.
	LoseReply float64
	// CutReply is the share of requests whose reply is cut in the middle:
	// part of it is forwarded, then the connection closes.
	CutReply float64
	// MaxDelay, when positive, delays each request by a random time up to
	// it before it is forwarded.
	MaxDelay time.Duration
}

// Fault is one kind of fault, for Arm.
type Fault int

// The faults Arm can inject.
const (
	DropRequest Fault = iota + 1
	LoseReply
	CutReply
)

// Stats counts what the proxy did.
type Stats struct {
	// Requests is the number of requests read from clients.
	Requests int64
	// Dropped, Lost and Cut count the requests dropped, whose replies were
	// lost and whose replies were cut.
	Dropped, Lost, Cut int64
	// Delayed counts the requests held back before being forwarded.
	Delayed int64
}

// Faults is the number of faults injected, delays not counted.
func (s Stats) Faults() int64 { return s.Dropped + s.Lost + s.Cut }

// Proxy forwards the connections it accepts on a loopback port to a target
// address, injecting faults. It is safe for concurrent use.
type Proxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	cfg   Config
	armed Fault
	rnd   *rand.Rand
	conns map[net.Conn]struct{}
	done  bool

	requests, dropped, lost, cut, delayed atomic.Int64
	wg                                    sync.WaitGroup
}

// Start listens on a free loopback port and forwards each connection to
// target under cfg.
func Start(target string, cfg Config) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, target: target, cfg: cfg, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// SetConfig changes the faults from the next request on.
func (p *Proxy) SetConfig(cfg Config) {
	p.mu.Lock()
	p.cfg = cfg
	p.mu.Unlock()
}

// Arm makes the next request meet fault f, whatever the Config says.
func (p *Proxy) Arm(f Fault) {
	p.mu.Lock()
	p.armed = f
	p.mu.Unlock()
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{Requests: p.requests.Load(), Dropped: p.dropped.Load(), Lost: p.lost.Load(), Cut: p.cut.Load(), Delayed: p.delayed.Load()}
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	err := p.l.Close()
	p.mu.Lock()
	p.done = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		conn, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(conn)
	}
}

// track records c so that Close can close it; it reports false once the
// proxy is closing.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

// decide draws the fate of one request: its fault (0 for none) and delay.
func (p *Proxy) decide() (Fault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.armed; f != 0 {
		p.armed = 0
		return f, 0
	}
	var d time.Duration
	if p.cfg.MaxDelay > 0 {
		d = time.Duration(p.rnd.Int64N(int64(p.cfg.MaxDelay)))
	}
	switch {
	case p.rnd.Float64() < p.cfg.DropRequest:
		return DropRequest, d
	case p.rnd.Float64() < p.cfg.LoseReply:
		return LoseReply, d
	case p.rnd.Float64() < p.cfg.CutReply:
		return CutReply, d
	}
	return 0, d
}

// handle forwards one client connection. The reply side reads what the
// server sends and, told by the request side that the next reply is doomed,
// loses or cuts it and closes both connections.
func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	defer p.untrack(client, server)
	var doom atomic.Int32 // the Fault awaiting the next reply
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer client.Close()
		defer server.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				switch Fault(doom.Load()) {
				case LoseReply:
					return // the server acted; the client hears nothing
				case CutReply:
					client.Write(buf[:n/2]) // at most half, then nothing
					return
				}
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			p.requests.Add(1)
			f, d := p.decide()
			if d > 0 {
				p.delayed.Add(1)
				time.Sleep(d)
			}
			switch f {
			case DropRequest:
				p.dropped.Add(1)
				return
			case LoseReply:
				p.lost.Add(1)
			case CutReply:
				p.cut.Add(1)
			}
			// Set before the request goes out, so that its reply is
			// surely the one doomed.
			doom.Store(int32(f))
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
