#!/bin/sh
echo exec
