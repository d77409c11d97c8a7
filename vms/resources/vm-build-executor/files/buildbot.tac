# Calvin build executor VM: the worker reads where its controller is from /etc/calvin-worker.env
# (CALVIN_CONTROLLER_HOST, CALVIN_CONTROLLER_PORT, CALVIN_WORKER_NAME, CALVIN_WORKER_PASSWORD).
import os
import sys

from twisted.application import service
from twisted.python.log import FileLogObserver, ILogObserver

from buildbot_worker.bot import Worker

basedir = os.path.dirname(os.path.abspath(__file__))
# The password is removed from the environment, so build steps never see it.
passwd = os.environ.pop('CALVIN_WORKER_PASSWORD', '')
application = service.Application('buildbot-worker')
application.setComponent(ILogObserver, FileLogObserver(sys.stdout).emit)
Worker(os.environ.get('CALVIN_CONTROLLER_HOST', 'build-controller'),
       int(os.environ.get('CALVIN_CONTROLLER_PORT', '9989')),
       os.environ.get('CALVIN_WORKER_NAME', os.uname().nodename), passwd, basedir,
       600, umask=0o022, maxdelay=300, allow_shutdown='signal', maxRetries=None).setServiceParent(application)
