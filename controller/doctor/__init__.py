"""`doctor`: can each machine of the cluster send its logs? Preflight from what Azure says of the
machines (agent, identity, model, architecture, associations); a pure core and a thin reader."""
