package codec

import (
	_ "github.com/bufbuild/protocompile"
	_ "github.com/hamba/avro/v2"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "golang.org/x/sync/singleflight"
	_ "google.golang.org/protobuf/types/dynamicpb"
)
