// Package all links every stategen backend: import it for its side effect
// when the store URL is chosen at run time.
//
//	import _ "github.com/stategen/stategen/runtime/backends/all"
package all

import (
	_ "github.com/stategen/stategen/runtime/backends/adw"
	_ "github.com/stategen/stategen/runtime/backends/jsonfile"
	_ "github.com/stategen/stategen/runtime/backends/postgres"
	_ "github.com/stategen/stategen/runtime/backends/pyredis"
	_ "github.com/stategen/stategen/runtime/backends/pysqlite"
	_ "github.com/stategen/stategen/runtime/backends/redis"
	_ "github.com/stategen/stategen/runtime/backends/sqlite"
)
