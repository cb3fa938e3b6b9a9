package apiserver_test

import (
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func countOnly() clientv3.OpOption { return clientv3.WithCountOnly() }

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
