#!/bin/sh
# slurm-job-archive TaskProlog: runs as the job user, inside the task's environment, so the
# environment it sees is the job's own (what the user exported before sbatch/srun, plus
# Slurm's SLURM_* variables). It drops that environment, NUL-separated, into the empty file
# <spool>/<jobid>/env that the root Prolog created for the user (the directory is root's);
# the root Epilog reads it back as the user and writes the job's archived .env.
#
# slurmstepd parses a TaskProlog's stdout ("export X=Y", "print ..."): print nothing.
# Only the first task to lock the still-empty file writes it; later tasks leave it alone.
# Usage: TaskProlog=/path/task_prolog.sh  (optional $1: config file, for wrappers/tests)
# Variable names are prefixed so an exported user variable of the same name is never altered.
_sja_conf=${1:-/etc/default/slurm-job-archive}
_sja_spool=/run/slurm-job-archive
if [ -r "$_sja_conf" ]; then
    while IFS= read -r _sja_line || [ -n "$_sja_line" ]; do
        case $_sja_line in
            SLURM_JOB_ARCHIVE_SPOOL=*)
                _sja_spool=${_sja_line#*=}
                _sja_spool=${_sja_spool#[\"\']}
                _sja_spool=${_sja_spool%[\"\']} ;;
        esac
    done < "$_sja_conf"
fi
case ${SLURM_JOB_ID:-x} in *[!0-9]*) exit 0 ;; esac
_sja_env=$_sja_spool/$SLURM_JOB_ID/env
if [ -f "$_sja_env" ] && [ -w "$_sja_env" ] && [ ! -s "$_sja_env" ]; then
    # _sja_* are shell variables, not exported: they never reach env's output.
    ( if [ -x /usr/bin/flock ]; then /usr/bin/flock -x 9 || exit 0; fi
      [ -s "$_sja_env" ] || exec /usr/bin/env -0 >&9 ) 9>>"$_sja_env" >/dev/null 2>&1
fi
exit 0
