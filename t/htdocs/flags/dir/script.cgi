#!/usr/bin/perl
# run as a CGI only when [H=cgi-script] selects the handler
print "Content-Type: text/plain\n\nscript ran\n";
