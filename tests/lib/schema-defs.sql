-- Every function, view and trigger of the current schema, with its
-- definition as the server prints it (pg_get_functiondef, pg_get_viewdef,
-- pg_get_triggerdef): what migrate.bats compares between a fresh install
-- and an upgraded database.
SELECT 'function ' || p.oid::regprocedure::text || E'\n' || pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'view ' || c.oid::regclass::text || E'\n' || pg_get_viewdef(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema() AND c.relkind IN ('v','m')
UNION ALL
SELECT 'trigger ' || t.tgname || E'\n' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema() AND NOT t.tgisinternal
ORDER BY 1;
