# Calvin build controller: twistd application file (rendered into the master's
# base directory at start by calvin-controller-start). Logs go to stdout.
import sys

from twisted.application import service
from twisted.python.log import FileLogObserver, ILogObserver

from buildbot.master import BuildMaster

basedir = '@BASEDIR@'
configfile = '@CONFIGFILE@'
umask = 0o022
rotateLength = 10000000
maxRotatedFiles = 10

application = service.Application('buildmaster')
application.setComponent(ILogObserver, FileLogObserver(sys.stdout).emit)

m = BuildMaster(basedir, configfile, umask)
m.setServiceParent(application)
