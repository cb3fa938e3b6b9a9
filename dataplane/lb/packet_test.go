package lb

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Minimal IPv4 packet building and checking for the tc program tests.

const (
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17
	tcpSYN    = 0x02
	tcpACK    = 0x10
	tcpFIN    = 0x01
)

type packet struct {
	src, dst netip.AddrPort
	proto    uint8
	flags    uint8 // TCP flags
	ttl      uint8
	payload  []byte
	zeroCsum bool // UDP without checksum
}

func csumAdd(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func csumFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func pseudo(src, dst netip.Addr, proto uint8, l4len int) uint32 {
	s, d := src.As4(), dst.As4()
	sum := csumAdd(0, s[:])
	sum = csumAdd(sum, d[:])
	return sum + uint32(proto) + uint32(l4len)
}

// ipv4 builds the IP header and L4 part of a packet (no Ethernet).
func (p packet) ipv4() []byte {
	var l4 []byte
	switch p.proto {
	case protoTCP:
		l4 = make([]byte, 20+len(p.payload))
		binary.BigEndian.PutUint16(l4[0:], p.src.Port())
		binary.BigEndian.PutUint16(l4[2:], p.dst.Port())
		binary.BigEndian.PutUint32(l4[4:], 1000)
		l4[12] = 5 << 4
		l4[13] = p.flags
		binary.BigEndian.PutUint16(l4[14:], 65535)
		copy(l4[20:], p.payload)
		binary.BigEndian.PutUint16(l4[16:], csumFold(csumAdd(pseudo(p.src.Addr(), p.dst.Addr(), protoTCP, len(l4)), l4)))
	case protoUDP:
		l4 = make([]byte, 8+len(p.payload))
		binary.BigEndian.PutUint16(l4[0:], p.src.Port())
		binary.BigEndian.PutUint16(l4[2:], p.dst.Port())
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], p.payload)
		if !p.zeroCsum {
			binary.BigEndian.PutUint16(l4[6:], csumFold(csumAdd(pseudo(p.src.Addr(), p.dst.Addr(), protoUDP, len(l4)), l4)))
		}
	case protoICMP:
		l4 = append([]byte(nil), p.payload...)
		binary.BigEndian.PutUint16(l4[2:], 0)
		binary.BigEndian.PutUint16(l4[2:], csumFold(csumAdd(0, l4)))
	}
	ttl := p.ttl
	if ttl == 0 {
		ttl = 64
	}
	ip := make([]byte, 20, 20+len(l4))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[8] = ttl
	ip[9] = p.proto
	s, d := p.src.Addr().As4(), p.dst.Addr().As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
	return append(ip, l4...)
}

// frame wraps the packet in an Ethernet header.
func (p packet) frame() []byte {
	eth := make([]byte, 14)
	copy(eth[0:6], []byte{2, 0, 0, 0, 0, 1})
	copy(eth[6:12], []byte{2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(eth[12:], 0x0800)
	return append(eth, p.ipv4()...)
}

// icmpError builds an ICMP destination-unreachable (port unreachable)
// from src to dst quoting the start of the offending packet.
func icmpError(src, dst netip.Addr, offending packet) packet {
	inner := offending.ipv4()
	if len(inner) > 28 {
		inner = inner[:28]
	}
	msg := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, inner...)
	return packet{src: netip.AddrPortFrom(src, 0), dst: netip.AddrPortFrom(dst, 0), proto: protoICMP, payload: msg}
}

// parsed is a packet read back from a program's output.
type parsed struct {
	packet
	// inner holds the quoted packet of an ICMP error.
	inner *parsed
}

// parseFrame reads an Ethernet frame and checks every checksum it carries.
func parseFrame(b []byte) (parsed, error) {
	if len(b) < 14 {
		return parsed{}, fmt.Errorf("short frame: %d bytes", len(b))
	}
	return parseIPv4(b[14:], true)
}

func parseIPv4(b []byte, full bool) (parsed, error) {
	var p parsed
	if len(b) < 20 || b[0] != 0x45 {
		return p, fmt.Errorf("not a plain IPv4 header: % x", b[:min(len(b), 20)])
	}
	if csumFold(csumAdd(0, b[:20])) != 0 {
		return p, fmt.Errorf("bad IP header checksum")
	}
	p.proto = b[9]
	p.ttl = b[8]
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	l4 := b[20:]
	if full {
		l4 = b[20:binary.BigEndian.Uint16(b[2:])]
	}
	switch p.proto {
	case protoTCP, protoUDP:
		if len(l4) < 8 {
			return p, fmt.Errorf("short L4 header")
		}
		p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:]))
		p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:]))
		if !full {
			return p, nil // a quoted header: its L4 checksum covers data that is not there
		}
		if p.proto == protoTCP {
			p.flags = l4[13]
			p.payload = l4[20:]
		} else {
			p.payload = l4[8:]
			if binary.BigEndian.Uint16(l4[6:]) == 0 {
				p.zeroCsum = true
				return p, nil
			}
		}
		if csumFold(csumAdd(pseudo(src, dst, p.proto, len(l4)), l4)) != 0 {
			return p, fmt.Errorf("bad %d checksum", p.proto)
		}
	case protoICMP:
		p.src = netip.AddrPortFrom(src, 0)
		p.dst = netip.AddrPortFrom(dst, 0)
		if csumFold(csumAdd(0, l4)) != 0 {
			return p, fmt.Errorf("bad ICMP checksum")
		}
		p.payload = l4
		if len(l4) >= 8+28 && (l4[0] == 3 || l4[0] == 11) {
			in, err := parseIPv4(l4[8:], false)
			if err != nil {
				return p, fmt.Errorf("quoted packet: %w", err)
			}
			p.inner = &in
		}
	}
	return p, nil
}
