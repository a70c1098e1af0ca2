import os,sys,json,hmac,hashlib,time,io,tarfile,urllib.request as U,urllib.parse as P,urllib.error as X
E=os.environ
C=[]
def die(m):sys.stderr.write("metaflow-cdk: %s\n"%m);sys.stderr.flush();os._exit(93)
def cr():
 if E.get("AWS_ACCESS_KEY_ID"):return E["AWS_ACCESS_KEY_ID"],E["AWS_SECRET_ACCESS_KEY"],E.get("AWS_SESSION_TOKEN")
 if not C or time.time()-C[1]>600:
  u=E.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or "http://169.254.170.2"+E.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI","/")
  t=E.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
  d=json.load(U.urlopen(U.Request(u,headers={"Authorization":t} if t else {}),timeout=10))
  C[:]=[(d["AccessKeyId"],d["SecretAccessKey"],d.get("Token")),time.time()]
 return C[0]
def rq(m,b,k="",q={},body=None):
 r=E.get("MF_S3_REGION") or E.get("AWS_REGION") or E.get("AWS_DEFAULT_REGION") or "us-east-1"
 ep=E.get("AWS_ENDPOINT_URL_S3") or E.get("AWS_ENDPOINT_URL")
 f=lambda s:P.quote(s,safe="-_.~")
 path="/"+P.quote(k,safe="-_.~/")
 if ep:base=ep.rstrip("/");host=P.urlparse(ep).netloc;path="/"+b+path
 elif "." in b:host="s3.%s.amazonaws.com"%r;base="https://"+host;path="/"+b+path
 else:host="%s.s3.%s.amazonaws.com"%(b,r);base="https://"+host
 a,s,tk=cr();t=time.strftime("%Y%m%dT%H%M%SZ",time.gmtime());d=t[:8]
 h={"host":host,"x-amz-content-sha256":"UNSIGNED-PAYLOAD","x-amz-date":t}
 if tk:h["x-amz-security-token"]=tk
 if body is not None:h["content-type"]="application/octet-stream"
 qs="&".join(f(x)+"="+f(q[x]) for x in sorted(q));sh=";".join(sorted(h));sc=d+"/"+r+"/s3/aws4_request"
 c="\n".join([m,path,qs,"".join(x+":"+h[x]+"\n" for x in sorted(h)),sh,"UNSIGNED-PAYLOAD"])
 g=("AWS4"+s).encode()
 for x in (d,r,"s3","aws4_request"):g=hmac.new(g,x.encode(),hashlib.sha256).digest()
 h["Authorization"]="AWS4-HMAC-SHA256 Credential=%s/%s,SignedHeaders=%s,Signature=%s"%(a,sc,sh,hmac.new(g,("AWS4-HMAC-SHA256\n%s\n%s\n"%(t,sc)+hashlib.sha256(c.encode()).hexdigest()).encode(),hashlib.sha256).hexdigest())
 del h["host"]
 return U.urlopen(U.Request(base+path+("?"+qs if qs else ""),data=body,method=m,headers=h),timeout=300)
def main():
 u=E.get("MF_CODE_URL","");b,_,k=u[5:].partition("/");w=E.get("MF_WORK_DIR","/tmp/mfcdk")+"/code"
 for i in range(6):
  try:z=rq("GET",b,k).read();break
  except Exception as e:
   if i==5 or getattr(e,"code",500)<500:die("cannot download the code package %s: %s"%(u,e))
   time.sleep(5)
 if hashlib.sha1(z).hexdigest()!=k[-40:]:die("the code package at %s does not match its sha1"%u)
 os.makedirs(w,exist_ok=True);tarfile.open(fileobj=io.BytesIO(z)).extractall(w,**({"filter":"data"} if hasattr(tarfile,"data_filter") else {}))
 os.chdir(w);sys.path.insert(0,w+"/_mfcdk");import mfcdk_task;sys.exit(mfcdk_task.main(sys.argv[1:],rq))
if __name__=="__main__":
 try:main()
 except Exception as e:die("the task runtime failed to start: %r"%e)
