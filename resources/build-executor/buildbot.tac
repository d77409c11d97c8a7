# Calvin build executor: twistd application file, rendered at start by
# calvin-executor-start from the runtime configuration. Logs go to stdout.
import os
import sys

from twisted.application import service
from twisted.python.log import FileLogObserver, ILogObserver

from buildbot_worker.bot import Worker

basedir = '@BASEDIR@'
buildmaster_host = '@HOST@'
port = @PORT@
use_tls = @TLS@
workername = '@NAME@'
# The password comes from the environment and is removed from it, so that
# build steps (which inherit the worker's environment) never see it.
passwd = os.environ.pop('CALVIN_WORKER_PASSWORD')
keepalive = 600
umask = 0o022
maxdelay = 300
numcpus = None
allow_shutdown = 'signal'
maxretries = None
delete_leftover_dirs = False

application = service.Application('buildbot-worker')
application.setComponent(ILogObserver, FileLogObserver(sys.stdout).emit)

s = Worker(buildmaster_host, port, workername, passwd, basedir,
           keepalive, umask=umask, maxdelay=maxdelay, numcpus=numcpus,
           allow_shutdown=allow_shutdown, maxRetries=maxretries, useTls=use_tls,
           delete_leftover_dirs=delete_leftover_dirs)
s.setServiceParent(application)
