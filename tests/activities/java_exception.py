from java.util import ArrayList
lst = ArrayList()
x = 1
lst.get(5)
