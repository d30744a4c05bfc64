//go:build tools

package kafka2pg
import (
 _ "github.com/twmb/franz-go/pkg/kgo"
 _ "github.com/twmb/franz-go/pkg/kadm"
 _ "github.com/twmb/franz-go/pkg/kfake"
 _ "github.com/jackc/pgx/v5/pgxpool"
 _ "go.yaml.in/yaml/v3"
 _ "github.com/valyala/fastjson"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "golang.org/x/sync/errgroup"
)

