"""Decision rights in agent frameworks' own extension points, one line each: every tool
call goes through ``Recorder.guard`` (authorize, wait for an approval where the rules ask
for one, refuse a denied or halted action, record the outcome). Each adapter imports its
framework, an optional extra; the core SDK never imports this package."""
