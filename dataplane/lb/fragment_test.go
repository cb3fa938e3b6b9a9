package lb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"skiff.dev/skiff/dataplane/model"
)

const (
	ipMF     = 0x2000
	fragID   = 0x1234
	firstLen = 24 // L4 bytes in the first fragment: a multiple of 8
)

// fragments splits the datagram p into two IPv4 fragments (Ethernet
// frames): the first holds the UDP header and the start of the payload.
func fragments(p packet) [][]byte {
	dgram := p.ipv4()
	l4 := dgram[20:]
	frame := func(part []byte, off uint16, more bool) []byte {
		ip := append([]byte(nil), dgram[:20]...)
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(part)))
		binary.BigEndian.PutUint16(ip[4:], fragID)
		fo := off / 8
		if more {
			fo |= ipMF
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
		eth := make([]byte, 14)
		binary.BigEndian.PutUint16(eth[12:], 0x0800)
		return append(append(eth, ip...), part...)
	}
	return [][]byte{frame(l4[:firstLen], 0, true), frame(l4[firstLen:], firstLen, false)}
}

// fragment is one fragment read back from a program's output.
type fragment struct {
	src, dst netip.Addr
	off      int
	data     []byte
}

func parseFragment(b []byte) (fragment, error) {
	ip := b[14:]
	if ip[0] != 0x45 || csumFold(csumAdd(0, ip[:20])) != 0 {
		return fragment{}, fmt.Errorf("bad IP header % x", ip[:20])
	}
	if id := binary.BigEndian.Uint16(ip[4:]); id != fragID {
		return fragment{}, fmt.Errorf("IP id %#x", id)
	}
	return fragment{
		src:  netip.AddrFrom4([4]byte(ip[12:16])),
		dst:  netip.AddrFrom4([4]byte(ip[16:20])),
		off:  int(binary.BigEndian.Uint16(ip[6:])&0x1fff) * 8,
		data: ip[20:binary.BigEndian.Uint16(ip[2:])],
	}, nil
}

// runFragments runs prog on each fragment and returns the verdicts and the
// reassembled datagram's addresses, ports and payload, checking that the
// UDP checksum of the whole still holds.
func (env *npEnv) runFragments(t *testing.T, prog *ebpf.Program, frames [][]byte) ([]uint32, packet) {
	t.Helper()
	var verdicts []uint32
	var l4 []byte
	var src, dst netip.Addr
	for _, in := range frames {
		opts := &ebpf.RunOptions{Data: in, DataOut: make([]byte, len(in)+256)}
		var ret uint32
		env.node.Do(t, func() error {
			var err error
			ret, err = prog.Run(opts)
			return err
		})
		verdicts = append(verdicts, ret)
		f, err := parseFragment(opts.DataOut)
		if err != nil {
			t.Fatal(err)
		}
		if len(l4) > 0 && (f.src != src || f.dst != dst) {
			t.Fatalf("fragments disagree: %s -> %s, then %s -> %s", src, dst, f.src, f.dst)
		}
		src, dst = f.src, f.dst
		if f.off != len(l4) {
			t.Fatalf("fragment at %d, want %d", f.off, len(l4))
		}
		l4 = append(l4, f.data...)
	}
	if csumFold(csumAdd(pseudo(src, dst, protoUDP, len(l4)), l4)) != 0 {
		t.Fatalf("reassembled datagram %s -> %s: bad UDP checksum", src, dst)
	}
	return verdicts, packet{
		src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:])),
		dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:])),
		proto:   protoUDP,
		payload: l4[8:],
	}
}

// Fragmented UDP datagrams are translated whole: the later fragments, which
// carry no ports, like their first fragment.
func TestNodePortFragments(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 6)
	client := netip.AddrPortFrom(clientIP, 40000)
	t.Run("to a remote backend, SNATed", func(t *testing.T) {
		env := newNPEnv(t, Config{})
		mustUpsert(t, env.lb, npService(model.UDP, false, npBackend{addr: "10.244.2.2"}))
		verdicts, out := env.runFragments(t, env.lb.objs.TcNodeportIngress, fragments(packet{src: client, dst: nodePort, proto: protoUDP, payload: payload}))
		if verdicts[0] != tcRedirect || verdicts[1] != tcRedirect {
			t.Fatalf("verdicts %v, want both redirected", verdicts)
		}
		if out.src.Addr() != nodeIP || out.dst != ap("10.244.2.2:8080") || !bytes.Equal(out.payload, payload) {
			t.Fatalf("datagram %s -> %s %q", out.src, out.dst, out.payload)
		}
		// The backend's fragmented answer goes back to the client.
		verdicts, back := env.runFragments(t, env.lb.objs.TcNodeportIngress, fragments(packet{src: out.dst, dst: out.src, proto: protoUDP, payload: payload}))
		if verdicts[0] != tcRedirect || verdicts[1] != tcRedirect || back.src != nodePort || back.dst != client {
			t.Fatalf("reply: verdicts %v, %s -> %s, want %s -> %s", verdicts, back.src, back.dst, nodePort, client)
		}
	})
	t.Run("from a local backend", func(t *testing.T) {
		env := newNPEnv(t, Config{})
		mustUpsert(t, env.lb, npService(model.UDP, false, npBackend{addr: "10.244.1.2", local: true}))
		if ret, _ := env.ingress(t, packet{src: client, dst: nodePort, proto: protoUDP, payload: []byte("q")}); ret != tcRedirect {
			t.Fatalf("request verdict %d", ret)
		}
		reply := fragments(packet{src: ap("10.244.1.2:8080"), dst: client, proto: protoUDP, payload: payload})
		for name, prog := range map[string]*ebpf.Program{"egress": env.lb.objs.TcNodeportEgress, "pod ingress": env.lb.objs.TcPodIngress} {
			_, back := env.runFragments(t, prog, reply)
			if back.src != nodePort || back.dst != client || !bytes.Equal(back.payload, payload) {
				t.Fatalf("%s: reply %s -> %s, want %s -> %s", name, back.src, back.dst, nodePort, client)
			}
		}
	})
	t.Run("a later fragment seen first is left alone", func(t *testing.T) {
		env := newNPEnv(t, Config{})
		mustUpsert(t, env.lb, npService(model.UDP, false, npBackend{addr: "10.244.2.2"}))
		frames := fragments(packet{src: client, dst: nodePort, proto: protoUDP, payload: payload})
		opts := &ebpf.RunOptions{Data: frames[1], DataOut: make([]byte, len(frames[1])+256)}
		var ret uint32
		env.node.Do(t, func() error {
			var err error
			ret, err = env.lb.objs.TcNodeportIngress.Run(opts)
			return err
		})
		f, err := parseFragment(opts.DataOut)
		if err != nil {
			t.Fatal(err)
		}
		if ret != tcPass || f.src != clientIP || f.dst != nodeIP {
			t.Fatalf("verdict %d, %s -> %s; want it passed untouched", ret, f.src, f.dst)
		}
	})
}
