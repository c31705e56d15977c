package httplimit

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Listener accepts at most max+reserve connections at once; Accept waits
// for a free slot. Connections accepted while max or more are open are
// marked as overflow (see ConnContext): Handler answers them 503 at once,
// except for Options.Reserved requests, so that when slow clients hold
// every slot, health checks still get through and other clients learn
// quickly that they should retry, rather than wait in the kernel's
// backlog.
//
// Unlike golang.org/x/net/netutil.LimitListener, its connections keep the
// io.ReaderFrom of *net.TCPConn, without which net/http cannot use
// sendfile.
type Listener struct {
	net.Listener
	max   int
	slots chan struct{}
	open  atomic.Int64
	done  chan struct{}
	once  sync.Once
}

// Limit returns ln capped at max connections plus reserve for overflow.
func Limit(ln net.Listener, max, reserve int) *Listener {
	return &Listener{Listener: ln, max: max, slots: make(chan struct{}, max+reserve), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	n := l.open.Add(1)
	return &conn{Conn: c, l: l, overflow: n > int64(l.max)}, nil
}

// Close stops Accept, including one waiting for a slot.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open is the number of connections accepted and not yet closed.
func (l *Listener) Open() int { return int(l.open.Load()) }

// ConnContext is for http.Server.ConnContext: it marks the requests of an
// overflow connection, seen through a TLS layer if need be.
func (l *Listener) ConnContext(ctx context.Context, c net.Conn) context.Context {
	for {
		switch t := c.(type) {
		case *conn:
			if t.overflow {
				return context.WithValue(ctx, overflowKey{}, true)
			}
			return ctx
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = t.NetConn()
		default:
			return ctx
		}
	}
}

type conn struct {
	net.Conn
	l        *Listener
	overflow bool
	once     sync.Once
}

// Close frees the slot once, however often it is called.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		<-c.l.slots
	})
	return err
}

// ReadFrom keeps sendfile (and splice) available to net/http.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// CloseWrite lets net/http half-close before closing, so the client reads
// the final answer before a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
