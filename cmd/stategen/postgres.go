package main

import (
	"fmt"

	"github.com/stategen/stategen/runtime/backends/postgres"
)

// postgresSchemaCmd is 'stategen postgres-schema'.
type postgresSchemaCmd struct {
	Schema string `default:"stategen" placeholder:"NAME" help:"The PostgreSQL schema to create the tables in: the schema parameter of the store URL."`
}

func (postgresSchemaCmd) Help() string {
	return `Prints the SQL statements that create stategen's tables in a PostgreSQL
schema, for an administrator to run once where the store's user may not
create tables (stategen creates them itself on first use where it may):

  stategen postgres-schema --schema NAME | psql postgres://admin@HOST/DATABASE

The store's user then needs SELECT, INSERT, UPDATE and DELETE on the
tables. Running the statements again changes nothing; run on the tables of
an earlier stategen, they upgrade them to this one's layout (which a user
who may not alter tables is told to do when it opens the store). Connects
to no server.`
}

func (c *postgresSchemaCmd) Run(e *env) error {
	ddl, err := postgres.Schema(c.Schema)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(e.stdout, ddl)
	return err
}
