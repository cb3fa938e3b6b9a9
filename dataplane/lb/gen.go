package lb

// The BPF object is built from bpf/ by bpf2go; the generated bpf_bpfel.go
// and bpf_bpfel.o are committed so that go build needs no clang. Rebuild
// with `make generate`, which sets CLANG and BPF_CFLAGS.
//
//go:generate go tool bpf2go -cc $CLANG -cflags $BPF_CFLAGS -target bpfel -type svc_key -type svc_value -type backend -type frontend -type ct_key -type ct_entry -type svc_stats -type affinity_key -type affinity_value -type sock_key -type sock_rev -type node_addr bpf ../../bpf/skiff.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc $CLANG -cflags $BPF_CFLAGS -target bpfel -type backend_addr sockterm ../../bpf/sock_term.c -- -I/usr/include/x86_64-linux-gnu
